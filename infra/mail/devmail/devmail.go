// Package devmail is the outbox Keyway uses instead of a real mail service
// when it runs locally: each message is written as a JSON file, logged
// (body included, so a developer can read a Magic Auth code off the
// console) and kept in memory for an inbox page.
//
// It is for local development only. It is the one Mailer that logs codes
// and links, and its Handler answers only requests from a loopback address
// with a loopback or localhost Host header.
package devmail

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keywayhq/keyway/infra/mail"
)

// DefaultKeep is how many messages an Outbox keeps in memory by default.
const DefaultKeep = 100

// Stored is a message as the outbox keeps it (and as its JSON files and
// the ?format=json listing show it).
type Stored struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
	mail.Message
}

// Outbox is a mail.Mailer for local development.
type Outbox struct {
	dir  string
	log  *slog.Logger
	keep int

	mu       sync.Mutex
	messages []Stored // oldest first, at most keep
	dirErr   error    // from creating dir in New; returned by Send
}

var _ mail.Mailer = (*Outbox)(nil)

// Option configures an Outbox.
type Option func(*Outbox)

// WithKeep sets how many of the newest messages are kept in memory
// (DefaultKeep when n <= 0). Files on disk are never removed.
func WithKeep(n int) Option {
	return func(o *Outbox) {
		if n > 0 {
			o.keep = n
		}
	}
}

// New returns an outbox writing to dir (created 0700 if missing). A nil
// log means slog.Default(). Messages already in dir from an earlier run are
// loaded, newest first, so the inbox survives a restart. An empty dir keeps
// messages in memory only.
func New(dir string, log *slog.Logger, opts ...Option) *Outbox {
	if log == nil {
		log = slog.Default()
	}
	o := &Outbox{dir: dir, log: log, keep: DefaultKeep}
	for _, opt := range opts {
		opt(o)
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			o.dirErr = fmt.Errorf("devmail: create %s: %w", dir, err)
		} else {
			o.load()
		}
	}
	return o
}

// Dir returns the directory messages are written to.
func (o *Outbox) Dir() string { return o.dir }

// load reads the JSON files of an earlier run, ignoring anything that does
// not parse.
func (o *Outbox) load() {
	paths, _ := filepath.Glob(filepath.Join(o.dir, "*.json"))
	var msgs []Stored
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var s Stored
		if json.Unmarshal(b, &s) != nil || s.ID == "" || s.ID+".json" != filepath.Base(p) {
			continue
		}
		msgs = append(msgs, s)
	}
	sortOldestFirst(msgs)
	if len(msgs) > o.keep {
		msgs = msgs[len(msgs)-o.keep:]
	}
	o.messages = msgs
}

func sortOldestFirst(msgs []Stored) {
	slices.SortStableFunc(msgs, func(a, b Stored) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(a.ID, b.ID))
	})
}

// Send validates m, writes it to <dir>/<id>.json (0600), logs it with its
// text body and keeps it for the inbox.
func (o *Outbox) Send(ctx context.Context, m mail.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.dirErr != nil {
		return o.dirErr
	}
	s := Stored{ID: newID(time.Now()), At: time.Now().UTC(), Message: m}
	if o.dir != "" {
		if err := writeFile(filepath.Join(o.dir, s.ID+".json"), s); err != nil {
			return err
		}
	}

	o.mu.Lock()
	o.messages = append(o.messages, s)
	if over := len(o.messages) - o.keep; over > 0 {
		o.messages = slices.Delete(o.messages, 0, over)
	}
	o.mu.Unlock()

	// Local development only: the body (with its code or link) is logged
	// on purpose. Validate has ruled out control characters in to/subject.
	o.log.LogAttrs(ctx, slog.LevelInfo, "devmail: message",
		slog.String("id", s.ID), slog.String("kind", m.Kind),
		slog.String("to", m.To), slog.String("subject", m.Subject),
		slog.String("text", m.Text))
	return nil
}

// writeFile writes s as JSON to path atomically, readable by the owner only.
func writeFile(path string, s Stored) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("devmail: encode: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("devmail: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(append(b, '\n'))
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp, 0o600)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("devmail: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("devmail: %w", err)
	}
	return nil
}

// newID returns a file-name-safe id that sorts by time.
func newID(t time.Time) string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return t.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(r[:])
}

// Messages returns the kept messages, newest first.
func (o *Outbox) Messages() []Stored {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Stored, len(o.messages))
	for i, s := range o.messages {
		out[len(out)-1-i] = s
	}
	return out
}

// Message returns the kept message with the given id.
func (o *Outbox) Message(id string) (Stored, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.messages {
		if s.ID == id {
			return s, true
		}
	}
	return Stored{}, false
}

// Latest returns the newest kept message sent to the address (compared
// case-insensitively), for tests that read a code from the outbox.
func (o *Outbox) Latest(to string) (Stored, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.messages) - 1; i >= 0; i-- {
		if strings.EqualFold(o.messages[i].To, to) {
			return o.messages[i], true
		}
	}
	return Stored{}, false
}
