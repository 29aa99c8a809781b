package keys

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNotFound is returned by a [Store] that holds no ring yet, so the caller
// can bootstrap one with [Generate] and [NewRing].
var ErrNotFound = errors.New("keys: no key ring stored")

// Store persists a key ring, encrypted at rest. Load returns an error wrapping
// [ErrNotFound] when nothing has been saved yet.
type Store interface {
	Load(ctx context.Context) (*Ring, error)
	Save(ctx context.Context, ring *Ring) error
}

// FileStore keeps the ring sealed (see [Seal]) in a single file with mode 0600.
type FileStore struct {
	// Path is the file holding the sealed ring.
	Path string
	// KEK is the 32-byte key-encryption key, e.g. from [KEKFromEnv].
	KEK []byte
}

var _ Store = (*FileStore)(nil)

// Load reads and opens the sealed ring at s.Path.
func (s *FileStore) Load(ctx context.Context) (*Ring, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("keys: load %s: %w", s.Path, err)
	}
	blob, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keys: load %s: %w: %w", s.Path, ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: load %s: %w", s.Path, err)
	}
	ring, err := Open(blob, s.KEK)
	if err != nil {
		return nil, fmt.Errorf("keys: load %s: %w", s.Path, err)
	}
	return ring, nil
}

// Save seals ring and atomically replaces s.Path with it (temporary file in
// the same directory, fsync, rename), leaving the file with mode 0600.
func (s *FileStore) Save(ctx context.Context, ring *Ring) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("keys: save %s: %w", s.Path, err)
	}
	blob, err := Seal(ring, s.KEK)
	if err != nil {
		return fmt.Errorf("keys: save %s: %w", s.Path, err)
	}
	if err := writeFileAtomic(s.Path, blob); err != nil {
		return fmt.Errorf("keys: save %s: %w", s.Path, err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Best effort: persist the rename itself.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
