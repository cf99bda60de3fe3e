package blobs

import (
	"testing"
)

func TestParseRange(t *testing.T) {
	const size = 1000
	cases := []struct {
		h           string
		off, length int64
		partial     bool
		bad         bool
	}{
		{"", 0, size, false, false},
		{"bytes=0-", 0, size, true, false},
		{"bytes=10-19", 10, 10, true, false},
		{"bytes=990-5000", 990, 10, true, false},
		{"bytes=-10", 990, 10, true, false},
		{"bytes=-5000", 0, size, true, false},
		{"bytes=0-1,5-6", 0, size, false, false}, // several ranges: whole blob
		{"items=0-1", 0, size, false, false},
		{"bytes=1000-", 0, 0, false, true},
		{"bytes=5-4", 0, 0, false, true},
		{"bytes=-0", 0, 0, false, true},
		{"bytes=x-1", 0, 0, false, true},
		{"bytes=-1-2", 0, 0, false, true},
	}
	for _, c := range cases {
		off, n, partial, err := parseRange(c.h, size)
		if (err != nil) != c.bad {
			t.Errorf("%q: err %v", c.h, err)
			continue
		}
		if !c.bad && (off != c.off || n != c.length || partial != c.partial) {
			t.Errorf("%q: got %d+%d partial=%v", c.h, off, n, partial)
		}
	}
}

// FuzzParseRange: any header yields either an error or a range inside the blob.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-", "bytes=-1", "bytes=5-9", "bytes=9223372036854775807-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size <= 0 {
			return
		}
		off, n, _, err := parseRange(h, size)
		if err != nil {
			return
		}
		if off < 0 || n < 0 || off+n > size || (n == 0 && size > 0) {
			t.Fatalf("%q of %d: range %d+%d", h, size, off, n)
		}
	})
}
