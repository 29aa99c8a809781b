package bolt

import (
	"bytes"

	"go.etcd.io/bbolt"
)

// keyRange is the keys k with lo <= k < hi.
type keyRange struct{ lo, hi []byte }

// prefixRange is every key that starts with p, which must end in sep.
func prefixRange(p []byte) keyRange { return keyRange{lo: p, hi: prefixEnd(p)} }

// from returns r starting at lo (inclusive).
func (r keyRange) from(lo []byte) keyRange { r.lo = lo; return r }

// until returns r ending before hi.
func (r keyRange) until(hi []byte) keyRange { r.hi = hi; return r }

// scan calls fn for the keys of r in b, in ascending or descending order,
// until fn returns false or an error. The key and value are only valid
// inside the transaction.
func scan(b *bbolt.Bucket, r keyRange, descending bool, fn func(k, v []byte) (bool, error)) error {
	c := b.Cursor()
	if descending {
		for k, v := seekBefore(c, r.hi); k != nil && bytes.Compare(k, r.lo) >= 0; k, v = c.Prev() {
			if more, err := fn(k, v); err != nil || !more {
				return err
			}
		}
		return nil
	}
	for k, v := c.Seek(r.lo); k != nil && bytes.Compare(k, r.hi) < 0; k, v = c.Next() {
		if more, err := fn(k, v); err != nil || !more {
			return err
		}
	}
	return nil
}

// seekBefore moves c to the last key before hi.
func seekBefore(c *bbolt.Cursor, hi []byte) (k, v []byte) {
	if k, _ := c.Seek(hi); k == nil {
		return c.Last()
	}
	return c.Prev()
}
