// Command synclang checks, compiles and runs .sync files that keep a CRM and
// a customer-data platform in sync. See README.md and SPEC.md.
package main

import "os"

func main() { os.Exit(Main(os.Args[1:], DefaultStdio())) }
