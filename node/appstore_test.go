package node

import (
	"path/filepath"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
)

// TestLevelStoreEmptyValues: a key present with an empty value is not an absent key. The
// ledger's markers (a node's holds and destroyed reports, owed reports) are empty values, and
// its duplicate checks failed on real nodes when the database said "absent" for them.
func TestLevelStoreEmptyValues(t *testing.T) {
	db, err := leveldb.OpenFile(filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Put([]byte("marker"), nil, nil); err != nil {
		t.Fatal(err)
	}
	snap, err := db.GetSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	for name, st := range map[string]interface {
		Get([]byte) ([]byte, error)
	}{"database": dbStore(db), "snapshot": snapStore(snap)} {
		if v, err := st.Get([]byte("marker")); err != nil || v == nil || len(v) != 0 {
			t.Errorf("%s: present empty value read as %v, %v", name, v, err)
		}
		if v, err := st.Get([]byte("absent")); err != nil || v != nil {
			t.Errorf("%s: absent key read as %v, %v", name, v, err)
		}
	}
}
