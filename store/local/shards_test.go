package local_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/resilientrecords/resilientrecords/store/local"
)

// TestShardDirs: a new store has every next-to-last/2 shard directory before its first write, and
// a store whose shard directories were partly made (an Open that crashed) gets the rest.
func TestShardDirs(t *testing.T) {
	dir := t.TempDir()
	s, err := local.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	countDirs := func() int {
		ents, err := os.ReadDir(filepath.Join(dir, "blocks"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range ents {
			if e.IsDir() && len(e.Name()) == 2 {
				n++
			}
		}
		return n
	}
	if n := countDirs(); n != 1024 {
		t.Fatalf("new store has %d shard directories, want 1024", n)
	}
	ctx := context.Background()
	c, _, err := s.Put(ctx, bytes.NewReader(make([]byte, 1<<20+1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Remove "77" (made last) and an empty one: the next Open makes them again.
	for _, d := range []string{"77", "AA"} {
		p := filepath.Join(dir, "blocks", d)
		if ents, _ := os.ReadDir(p); len(ents) == 0 {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	s2 := open(t, dir, -1)
	if n := countDirs(); n != 1024 {
		t.Fatalf("reopened store has %d shard directories, want 1024", n)
	}
	if ok, err := s2.Has(ctx, c); !ok || err != nil {
		t.Fatalf("Has after reopen = %v, %v", ok, err)
	}
}
