package state

// ProcessAlive reports whether a process of this host with that id is
// still running (the default of Options.Alive); other Store
// implementations use it to take over a lock a crashed local process left.
func ProcessAlive(pid int) bool { return processAlive(pid) }
