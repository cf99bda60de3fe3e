package proxy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// filesContaining counts the files in dir whose bytes contain b.
func filesContaining(t *testing.T, dir string, b []byte) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(data, b) {
			n++
		}
	}
	return n
}

// A deleted fragment's ciphertext lingers in the database's files until a compaction; after
// the vault's compaction no file holds it, while live fragments are still there.
func TestVaultCompactionRemovesDeletedValues(t *testing.T) {
	v, root := testVault(t)
	dir := filepath.Join(root, "vault")
	kf := testKFrag(t)
	ids := grantsFrom(0, 3000)
	fillFast(t, v, kf, ids)
	// Into tables, as a vault that has run for a while has them.
	if err := v.db.CompactRange(util.Range{}); err != nil {
		t.Fatal(err)
	}
	dead, live := ids[:1500:1500], ids[1500:]
	values := make(map[protocol.ID][]byte)
	for _, id := range []protocol.ID{dead[0], dead[700], dead[1499], live[0], live[1499]} {
		values[id] = raw(t, v, id)
	}
	v.OnCommit(ledger.CommitInfo{Height: 2, Revoked: dead})
	if v.Len() != 1500 {
		t.Fatalf("Len %d after deleting 1500 of 3000", v.Len())
	}
	// Deleted, but not yet compacted: the tables still hold the value (which shows that
	// this test can see it).
	if filesContaining(t, dir, values[dead[0]]) == 0 {
		t.Fatal("the deleted value is in no file before compaction: the test cannot see it")
	}
	// 1500 deletions are past compactMin and an eighth of the vault: the commit started a
	// compaction. Wait for it.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		v.mu.RLock()
		done := v.comp.uncompacted == 0 && !v.comp.running
		v.mu.RUnlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no compaction finished after 1500 deletions")
		}
	}
	// goleveldb removes the tables a compaction replaced once no reader holds them: moments.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n := 0
		for _, id := range []protocol.ID{dead[0], dead[700], dead[1499]} {
			n += filesContaining(t, dir, values[id])
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after compaction, files still hold deleted values (%d)", n)
		}
	}
	for _, id := range []protocol.ID{live[0], live[1499]} {
		if filesContaining(t, dir, values[id]) == 0 {
			t.Fatal("a live value is in no file after compaction")
		}
	}
	// The count of uncompacted deletions was persisted as zero.
	v = reopen(t, v, root)
	if v.comp.uncompacted != 0 || v.Len() != 1500 {
		t.Fatalf("after reopening: %d uncompacted, Len %d", v.comp.uncompacted, v.Len())
	}
}

// A few deletions do not start a compaction until the oldest is compactAge old; a restart
// remembers them.
func TestVaultCompactionWaitsForAgeOrCount(t *testing.T) {
	v, root := testVault(t)
	ids := fill(t, v, 5)
	v.OnCommit(ledger.CommitInfo{Height: 2, Revoked: ids[:2]})
	if v.comp.running || v.comp.uncompacted != 2 {
		t.Fatalf("two deletions: running %v, uncompacted %d", v.comp.running, v.comp.uncompacted)
	}
	v = reopen(t, v, root)
	if v.comp.uncompacted != 2 {
		t.Fatalf("reopened: %d uncompacted deletions, want 2", v.comp.uncompacted)
	}
	v.mu.Lock()
	v.compactIfDueLocked(time.Now().Add(compactAge))
	started := v.comp.running
	v.mu.Unlock()
	if !started {
		t.Fatal("deletions compactAge old started no compaction")
	}
}
