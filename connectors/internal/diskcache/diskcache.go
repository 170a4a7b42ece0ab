// Package diskcache keeps what a connector learned from a service (its
// schema) in a per-user file, so that a new process need not ask again:
// the Dynamics table definitions with their RetrieveMetadataChanges
// version stamp, the People custom attribute definitions.
//
// A cache file holds no secret (callers store schema data only, and name
// the file by a hash of what keys it). It is written atomically, mode 0600
// in a directory made 0700, and read leniently: a file that is missing,
// truncated, not JSON, of another format or for another key is treated as
// absent, never as an error, because the service can always be asked
// again.
//
// Entry points: Path, Load, Save.
package diskcache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"
)

// Format is the version of the envelope; a file of another format is
// treated as absent.
const Format = 1

// envelope wraps what a caller stores with what makes it valid.
type envelope struct {
	Format int             `json:"format"`
	Key    string          `json:"key"`
	Saved  time.Time       `json:"saved"`
	Data   json.RawMessage `json:"data"`
}

// Dir is dir, or os.UserCacheDir()/synclang when dir is "".
func Dir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no per-user cache directory: %w", err)
	}
	return filepath.Join(base, "synclang"), nil
}

// Path names the cache file of one key in dir ("" = the default
// directory): prefix-<hash of key>.json. The key itself is kept inside the
// file and checked on Load, so a hash collision reads as absent.
func Path(dir, prefix, key string) (string, error) {
	d, err := Dir(dir)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(d, prefix+"-"+hex.EncodeToString(sum[:8])+".json"), nil
}

// Load decodes the data saved under key at path into v and returns when it
// was saved. ok is false, and v untouched, when the file is missing or
// unusable (truncated, not JSON, another format, another key, data that
// does not decode into v, a save time in the future).
func Load(path, key string, v any) (saved time.Time, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, false
	}
	var env envelope
	if json.Unmarshal(data, &env) != nil || env.Format != Format || env.Key != key || len(env.Data) == 0 {
		return time.Time{}, false
	}
	if env.Saved.IsZero() || env.Saved.After(time.Now().Add(time.Minute)) {
		return time.Time{}, false
	}
	// Decode into a fresh value first so a half-decoded v never escapes.
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return time.Time{}, false
	}
	fresh := reflect.New(rv.Elem().Type())
	if json.Unmarshal(env.Data, fresh.Interface()) != nil {
		return time.Time{}, false
	}
	rv.Elem().Set(fresh.Elem())
	return env.Saved, true
}

// Save writes v under key at path: to a temporary file of mode 0600 in the
// same directory (created 0700, or tightened to 0700), then renamed over
// path, so a reader sees the old file or the new one, never a part.
func Save(path, key string, saved time.Time, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(envelope{Format: Format, Key: key, Saved: saved.UTC(), Data: data}, "", " ")
	if err != nil {
		return err
	}
	if err := privateDir(filepath.Dir(path)); err != nil {
		return err
	}
	return WriteFile(path, out)
}

// WriteFile writes data to path as the owner's alone (0600), atomically: a
// temporary file in the same directory, renamed over path, so a reader
// sees the old file or the new one, never a part. The directory must exist
// (and be private: the caller's concern, as its error messages differ).
func WriteFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+strings.TrimSuffix(filepath.Base(path), ".json")+"-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Remove deletes the cache file at path; a missing file is no error.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// privateDir creates dir 0700, or takes group and other permissions off
// an existing one (synclang's own directory; the token caches live there
// too).
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(dir, fi.Mode().Perm()&^0o077); err != nil {
		return fmt.Errorf("the cache directory %s is open to other users (mode %o) and cannot be made private: %w", dir, fi.Mode().Perm(), err)
	}
	return nil
}
