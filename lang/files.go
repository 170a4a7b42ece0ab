package lang

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// MaxSnapshotSize is the largest schema snapshot read, in bytes: a
// Dataverse organisation with a thousand tables of a hundred columns writes
// about 20 MB. (A .sync file's limit is parser.MaxFileSize.)
const MaxSnapshotSize = 128 << 20

// ReadFile reads a file of a project (a .sync file, a schema snapshot, a
// plan) that may have come from anyone who can open a pull request, so it
// trusts nothing about it:
//
//   - only a regular file is read. A FIFO would block forever, and a
//     device such as /dev/zero never ends; both are refused before they are
//     opened, and again after (the file is opened non-blocking, and its
//     type checked on the open descriptor, in case it was swapped).
//   - a symbolic link is followed only to a regular file in the directory
//     that holds the link, or below it. Git stores symlinks, and one to
//     /proc/self/environ would otherwise print the environment, secrets
//     included, in a syntax error's snippet.
//   - at most limit bytes are read; a bigger file is an error.
//   - ctx is honoured between chunks.
func ReadFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	data, err := readRegular(ctx, path, limit)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: the file is larger than %s, the limit for it", path, size(limit))
	}
	return data, nil
}

// readRegular reads at most limit+1 bytes of a regular file (see ReadFile),
// so a caller can tell a file that is too big.
func readRegular(ctx context.Context, path string, limit int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	info, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		if info, err = followLink(path); err != nil {
			return nil, err
		}
	}
	if err := regular(path, info); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := regular(path, info); err != nil {
		return nil, err
	}
	var data []byte
	buf := make([]byte, 64<<10)
	for int64(len(data)) <= limit {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := f.Read(buf[:min(int64(len(buf)), limit+1-int64(len(data)))])
		data = append(data, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return data, nil
}

// followLink returns the file a symbolic link points to, if it is inside
// the link's directory.
func followLink(path string) (fs.FileInfo, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(dir, target)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return nil, fmt.Errorf("%s: a symbolic link to %s, outside its directory; synclang follows links only to files next to or below them (copy the file instead)", path, target)
	}
	return os.Stat(target)
}

// regular refuses anything but a regular file, saying what it is.
func regular(path string, info fs.FileInfo) error {
	m := info.Mode()
	if m.IsRegular() {
		return nil
	}
	what := "not a regular file"
	switch {
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeDevice != 0 || m&fs.ModeCharDevice != 0:
		what = "a device"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeSymlink != 0:
		what = "a symbolic link"
	}
	return fmt.Errorf("%s: %s; synclang reads only regular files", path, what)
}

// size prints a byte count in MiB or KiB.
func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
