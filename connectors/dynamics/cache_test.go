//go:build unix

package dynamics

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestTokenCacheDirIsTightened: with umask 022, a token cache directory
// that already exists 0755 is made 0700 when a sign-in is saved or read,
// and the cache file is 0600.
func TestTokenCacheDirIsTightened(t *testing.T) {
	t.Parallel()
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "synclang")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	set := authSettings{name: "crm", url: "https://org.crm4.dynamics.com", tenant: "t", clientID: "c",
		authority: "https://login.microsoftonline.com", cacheDir: dir}
	if err := saveRefreshToken(set, "refresh-token-value"); err != nil {
		t.Fatal(err)
	}
	mode := func(p string) os.FileMode {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(dir); m != 0o700 {
		t.Errorf("cache directory %o after a save, want 700", m)
	}
	path, _ := cachePath(set)
	if m := mode(path); m != 0o600 {
		t.Errorf("cache file %o, want 600", m)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if rt, err := loadRefreshToken(set); err != nil || rt != "refresh-token-value" {
		t.Fatalf("load: %q %v", rt, err)
	}
	if m := mode(dir); m != 0o700 {
		t.Errorf("cache directory %o after a load, want 700", m)
	}
}
