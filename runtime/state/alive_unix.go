//go:build unix

package state

import (
	"errors"
	"syscall"
)

// processAlive probes pid with signal 0: ESRCH means no such process; EPERM
// means it exists under another user.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
