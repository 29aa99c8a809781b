package peers

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// Tail returns the last n lines of s, for showing a peer's output when a
// test fails.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LineLogger writes each complete line to T.Log as it arrives, after
// Prefix: the output of a child process (node --test) in the test's log.
type LineLogger struct {
	T      testing.TB
	Prefix string
	mu     sync.Mutex
	buf    []byte
}

func (l *LineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.T.Log(l.Prefix + strings.TrimRight(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

// Flush logs a last line without a newline.
func (l *LineLogger) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.T.Log(l.Prefix + string(l.buf))
		l.buf = nil
	}
}
