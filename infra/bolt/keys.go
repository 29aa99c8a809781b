package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/keywayhq/keyway/events"
)

// sep separates the parts of a key. It sorts before every other byte, so a
// key sorts by its first part, then its second, and so on.
const sep = 0

// key joins parts with sep.
func key(parts ...string) []byte {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			k = append(k, sep)
		}
		k = append(k, p...)
	}
	return k
}

// prefix is key(parts...) followed by sep: the start of every key whose
// leading parts are parts.
func prefix(parts ...string) []byte { return append(key(parts...), sep) }

// prefixEnd is the smallest key after every key that starts with p, which
// must end in sep.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	end[len(end)-1] = sep + 1
	return end
}

// checkParts rejects key parts that contain sep: they would make two
// different keys equal, or leak one environment into another.
func checkParts(parts ...string) error {
	for _, p := range parts {
		if strings.IndexByte(p, sep) >= 0 {
			return fmt.Errorf("bolt: key part %q contains a NUL byte", p)
		}
	}
	return nil
}

// eventKey is the streams key of version v of a stream: the stream prefix
// and v in 8 big-endian bytes, so versions sort numerically.
func eventKey(env, stream string, v int64) []byte {
	return binary.BigEndian.AppendUint64(prefix(env, stream), uint64(v))
}

// streamPrefix is the start of every streams key of a stream.
func streamPrefix(env, stream string) []byte { return prefix(env, stream) }

// feedKey is the feed key of an event.
func feedKey(env, id string) []byte { return key(env, id) }

// itemKey is the items key of a read-model item.
func itemKey(env string, k events.ItemKey) []byte { return key(env, k.Collection, k.ID) }

// indexKey is the index key that places item k in partition ik of idx.
func indexKey(idx events.Index, env string, ik events.IndexKey, k events.ItemKey) []byte {
	return key(string(idx), env, ik.Partition, ik.Sort, k.Collection, k.ID)
}

// itemKeyOfIndex returns the items key that index key k points at: k ends
// with the collection and the id of the item.
func itemKeyOfIndex(env string, k []byte) []byte {
	i := bytes.LastIndexByte(k, sep)
	j := bytes.LastIndexByte(k[:i], sep)
	return append(prefix(env), k[j+1:]...)
}

// itemKeyParts lists the key parts of keys, for checkParts.
func itemKeyParts(keys []events.ItemKey) []string {
	parts := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		parts = append(parts, k.Collection, k.ID)
	}
	return parts
}

// claimKey is the claims key of a unique value.
func claimKey(env string, c events.Claim) []byte { return key(env, c.Kind, c.Value) }

// idemKey is the idempotency key of a record.
func idemKey(env, k string) []byte { return key(env, k) }

// appendParts lists every key part of a, for checkParts.
func appendParts(a events.Append) []string {
	parts := []string{a.Environment}
	for _, sa := range a.Streams {
		parts = append(parts, sa.Stream)
		for _, e := range sa.Events {
			parts = append(parts, e.ID)
		}
	}
	for _, c := range a.Checks {
		parts = append(parts, c.Stream)
	}
	for _, c := range append(append([]events.Claim(nil), a.Claims...), a.Releases...) {
		parts = append(parts, c.Kind, c.Value)
	}
	for _, it := range a.Puts {
		parts = append(parts, it.Collection, it.ID)
		for idx, ik := range it.Indexes {
			parts = append(parts, string(idx), ik.Partition, ik.Sort)
		}
	}
	for _, d := range a.Deletes {
		parts = append(parts, d.Collection, d.ID)
	}
	if a.Idempotency != nil {
		parts = append(parts, a.Idempotency.Key)
	}
	return parts
}
