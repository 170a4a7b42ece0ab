package state

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// The state holds personal data (conflict values, reject reasons quoting
// records) and the link table of an organisation's systems: it is the
// owner's only. Open creates the directory 0700 and the database 0600;
// SQLite creates the -wal and -shm files with the database's permissions
// (os_unix.c, findCreateFileMode), so they are 0600 too. A database an
// older synclang created with wider permissions is tightened when it is
// opened for writing by its owner. An existing directory is left as it is: --state may
// point into a directory that is not synclang's, and the files in it are
// private either way.
const (
	dirMode  fs.FileMode = 0o700
	fileMode fs.FileMode = 0o600
)

// createPrivate makes the directory of path (0700) and the database file
// (0600) unless they exist, and takes group and other permissions away
// from an existing database and its -wal and -shm files.
func createPrivate(path string) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return fmt.Errorf("state: creating %s: %w", dir, err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	switch {
	case err == nil:
		return f.Close()
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("state: creating %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		// Best effort: a state shared on purpose (a group-writable file
		// another user owns) cannot be changed by this user, and is theirs
		// to decide.
		_ = os.Chmod(p, fi.Mode().Perm()&^0o077)
	}
	return nil
}

// readOnlyDSN is the data source name that opens path for reading only.
// A WAL database needs its -shm file: when it is missing and the
// directory cannot be written (a read-only mount, a directory the user may
// only read), SQLite cannot create it, so the database is opened as
// immutable instead. That is right there: no process can be writing a
// database whose directory it cannot create the -wal and -shm files in.
// See https://www.sqlite.org/wal.html#readonly and
// https://www.sqlite.org/uri.html (mode, immutable).
func readOnlyDSN(path string) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("state %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("state %s: %w", path, err)
	}
	q := "mode=ro"
	if _, err := os.Stat(path + "-shm"); err != nil && !dirWritable(filepath.Dir(abs)) {
		q += "&immutable=1"
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q + "&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"}
	return u.String(), nil
}

// dirWritable reports whether a file can be created in dir, by creating
// (and removing) one: permission bits do not tell (root, ACLs, read-only
// mounts).
func dirWritable(dir string) bool {
	f, err := os.CreateTemp(dir, ".synclang-probe-*")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	return os.Remove(name) == nil
}

// syncDir makes a new directory entry durable (best effort: some
// platforms cannot open a directory for syncing).
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
