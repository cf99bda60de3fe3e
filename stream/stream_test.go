package stream

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.txt")

// vectors are encodings fixed in SPEC.md's terms; a change to Encode shows as a diff.
var vectors = []struct {
	name    string
	entries []Entry
}{
	{"one", []Entry{{Time: 1, Data: []byte("a")}}},
	{"empty-data", []Entry{{Time: 0, Data: nil}}},
	{"equal-times", []Entry{{Time: 1_700_000_000_000_000_000, Data: []byte(`{"lat":52.37,"lon":4.89}`)},
		{Time: 1_700_000_000_000_000_000, Data: []byte(`{"lat":52.38,"lon":4.90}`)},
		{Time: 1_700_000_001_000_000_000, Data: []byte("x")}}},
}

func TestVectors(t *testing.T) {
	var out strings.Builder
	for _, v := range vectors {
		b, err := Encode(v.entries)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: decoding: %v", v.name, err)
		}
		if len(got) != len(v.entries) {
			t.Fatalf("%s: %d entries back, want %d", v.name, len(got), len(v.entries))
		}
		for i := range got {
			if got[i].Time != v.entries[i].Time || !bytes.Equal(got[i].Data, v.entries[i].Data) {
				t.Fatalf("%s: entry %d differs", v.name, i)
			}
		}
		out.WriteString(v.name + " " + hex.EncodeToString(b) + "\n")
	}
	path := filepath.Join("testdata", "vectors.txt")
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != out.String() {
		t.Fatalf("encodings differ from %s:\n%s", path, out.String())
	}
}

func TestDecodeRefuses(t *testing.T) {
	entry := func(tm int64, n uint32, data string) string {
		b := []byte{byte(tm >> 56), byte(tm >> 48), byte(tm >> 40), byte(tm >> 32), byte(tm >> 24), byte(tm >> 16), byte(tm >> 8), byte(tm),
			byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
		return string(b) + data
	}
	for name, b := range map[string]string{
		"empty":          "",
		"version 2":      "\x02" + entry(1, 1, "a"),
		"no entry":       "\x01",
		"truncated head": "\x01\x00\x00\x00",
		"short data":     "\x01" + entry(1, 5, "abc"),
		"huge length":    "\x01" + entry(1, MaxEntryData+1, ""),
		"negative time":  "\x01" + entry(-1, 0, ""),
		"out of order":   "\x01" + entry(5, 0, "") + entry(4, 0, ""),
	} {
		if _, err := Decode([]byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	for name, es := range map[string][]Entry{
		"none":         nil,
		"negative":     {{Time: -1}},
		"out of order": {{Time: 2}, {Time: 1}},
		"too long":     {{Time: 1, Data: make([]byte, MaxEntryData+1)}},
	} {
		if _, err := Encode(es); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

func TestSplitByEpoch(t *testing.T) {
	const epoch = 10 * time.Minute
	base := int64(1_700_000_400) * int64(time.Second) // an epoch boundary: 1_700_000_400 is a multiple of 600
	var es []Entry
	for i := range 1800 { // 30 minutes at 1 Hz: three epochs
		es = append(es, Entry{Time: base + int64(i)*int64(time.Second)})
	}
	parts := Split(es, epoch)
	if len(parts) != 3 {
		t.Fatalf("%d chunks, want 3", len(parts))
	}
	for i, p := range parts {
		first, last := Span(p)
		if len(p) != 600 || EpochOf(first, epoch) != EpochOf(last, epoch) || EpochOf(first, epoch) != EpochOf(base, epoch)+int64(i) {
			t.Fatalf("chunk %d: %d entries from epoch %d to %d", i, len(p), EpochOf(first, epoch), EpochOf(last, epoch))
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range vectors {
		b, _ := Encode(v.entries)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(es)
		if err != nil {
			t.Fatalf("decoded entries do not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("encoding is not canonical")
		}
	})
}
