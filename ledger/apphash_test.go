package ledger

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// TestStateHashVectors checks the hash against vectors an independent implementation
// computed from SPEC.md §7 (testdata/statehash/vectors.txt).
func TestStateHashVectors(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "statehash", "vectors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h StateHash
	name, cases := "", 0
	unhex := func(s string) []byte {
		if s == "-" {
			return []byte{}
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return b
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		switch {
		case line == "" || line[0] == '#':
		case strings.HasPrefix(line, "case "):
			name, h = line[5:], StateHash{}
		case fields[0] == "add" && len(fields) == 3:
			h.Add(unhex(fields[1]), unhex(fields[2]))
		case fields[0] == "remove" && len(fields) == 3:
			h.Remove(unhex(fields[1]), unhex(fields[2]))
		case fields[0] == "app_hash" && len(fields) == 2:
			if got := hex.EncodeToString(h.AppHash()); got != fields[1] {
				t.Errorf("%s: app hash %s, want %s", name, got, fields[1])
			}
			cases++
		default:
			t.Fatalf("bad vector line %q", line)
		}
	}
	if err := sc.Err(); err != nil || cases < 5 {
		t.Fatalf("read %d cases: %v", cases, err)
	}
}

// TestStateHashLanes: the four-lanes-per-word arithmetic is lane-wise addition and
// subtraction modulo 2^16, carries and borrows included.
func TestStateHashLanes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	lanes := func(h *StateHash) []uint16 {
		b, _ := h.MarshalBinary()
		out := make([]uint16, stateHashLanes)
		for i := range out {
			out[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return out
	}
	var h StateHash
	want := make([]uint16, stateHashLanes)
	for i := range 200 {
		k, v := []byte{byte(i), byte(i >> 8)}, make([]byte, r.IntN(40))
		for j := range v {
			v[j] = byte(r.Uint32())
		}
		var e StateHash
		e.Add(k, v)
		el := lanes(&e)
		if r.IntN(3) == 0 {
			h.Remove(k, v)
			for j := range want {
				want[j] -= el[j]
			}
		} else {
			h.Add(k, v)
			for j := range want {
				want[j] += el[j]
			}
		}
	}
	got := lanes(&h)
	for j := range want {
		if got[j] != want[j] {
			t.Fatalf("lane %d: %#x, want %#x", j, got[j], want[j])
		}
	}
	// Lanes that wrap: 0xffff + 1 and 0 - 1 stay in their lane.
	var a StateHash
	for i := range a.w {
		a.w[i] = 0x0000_ffff_0000_ffff
	}
	var one [stateHashLanes / 4]uint64
	for i := range one {
		one[i] = 0x0001_0001_0001_0001
	}
	for i := range a.w {
		x, b := a.w[i], one[i]
		a.w[i] = ((x &^ laneTops) + (b &^ laneTops)) ^ ((x ^ b) & laneTops)
	}
	if a.w[0] != 0x0001_0000_0001_0000 {
		t.Fatalf("0xffff+1 carried into the next lane: %#x", a.w[0])
	}
}

func TestStateHashAlgebra(t *testing.T) {
	var empty, h StateHash
	h.Add([]byte("a"), []byte("1"))
	h.Add([]byte("b"), []byte("2"))
	var other StateHash
	other.Add([]byte("b"), []byte("2"))
	other.Add([]byte("a"), []byte("1"))
	if !bytes.Equal(h.AppHash(), other.AppHash()) {
		t.Fatal("the hash depends on the order pairs were added")
	}
	h.Remove([]byte("a"), []byte("1"))
	h.Remove([]byte("b"), []byte("2"))
	if !bytes.Equal(h.AppHash(), empty.AppHash()) {
		t.Fatal("removing what was added does not give the empty set's hash")
	}
	var del, emptyPut StateHash
	emptyPut.Add([]byte("k"), []byte{})
	if bytes.Equal(del.AppHash(), emptyPut.AppHash()) {
		t.Fatal("an absent key and a key with an empty value hash the same")
	}
	b, _ := emptyPut.MarshalBinary()
	var back StateHash
	if err := back.UnmarshalBinary(b); err != nil || back != emptyPut {
		t.Fatalf("round trip: %v", err)
	}
	for _, n := range []int{0, StateHashSize - 1, StateHashSize + 1} {
		if err := back.UnmarshalBinary(make([]byte, n)); err == nil {
			t.Fatalf("a %d-byte state hash was accepted", n)
		}
	}
}

// TestStateHashFollowsState: the hash Execute keeps block by block equals the hash of the
// state recomputed from scratch (what a restored node computes), through puts, overwrites,
// deletes and empty blocks, and an empty block keeps it.
func TestStateHashFollowsState(t *testing.T) {
	m := newMachine(t, 0)
	check := func(when string) {
		t.Helper()
		fresh, err := HashState(m.store)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh.AppHash(), m.appHash) || *fresh != *m.state {
			t.Fatalf("%s: the kept state hash is not the state's", when)
		}
	}
	check("genesis")
	owner, doc := m.account(), m.account()
	rec := owner.RecordID()
	m.ok(owner, protoPut())
	check("put")
	g := owner.GrantID()
	m.ok(owner, m.grantBody(rec, doc, m.time+int64(time.Minute)))
	check("grant with an expiry")
	before := m.appHash
	_, x := m.block(time.Millisecond)
	if len(x.Writes) != 0 || !bytes.Equal(m.appHash, before) {
		t.Fatal("an empty block changed the app hash")
	}
	m.block(2 * time.Minute) // the grant expires: its expiry index entry is deleted
	if st, err := m.snapshot().Grant(g); err != nil || !st.Expired {
		t.Fatalf("grant not expired: %+v, %v", st, err)
	}
	check("expiry (deletes)")
	m.ok(owner, &protocol.EraseRecord{Record: rec})
	check("erase")
	// Keys of the node's own (prefix 0x00) are outside the hash.
	withMeta := m.store.Clone()
	withMeta.Apply([]Write{{Key: []byte{pMeta, 'h'}, Value: []byte("anything")}})
	if h, _ := HashState(withMeta); !bytes.Equal(h.AppHash(), m.appHash) {
		t.Fatal("a 0x00 key changed the state hash")
	}
}

// BenchmarkStateHashWrite is the cost of one overwritten key: one pair out, one in.
func BenchmarkStateHashWrite(b *testing.B) {
	var h StateHash
	k, v := make([]byte, 40), make([]byte, 200)
	for b.Loop() {
		h.Remove(k, v)
		h.Add(k, v)
	}
}

// BenchmarkExecuteBlock: one block of 250 puts, signatures already checked (as CheckTx
// leaves them), over a state holding the records of earlier blocks; about 12 state hash
// elements a put (ledger/SPEC.md §7, "Cost").
func BenchmarkExecuteBlock(b *testing.B) {
	m := newMachine(b, 0)
	owners := make([]*protocoltest.Account, 250)
	for i := range owners {
		owners[i] = m.account()
	}
	blockOf := func(round int) [][]byte {
		txs := make([][]byte, len(owners))
		for i, o := range owners {
			txs[i] = o.Next(protocoltest.PutRecord(fmt.Sprintf("cid-%d-%d", round, i), 10))
		}
		return txs
	}
	for r := range 4 { // some state first
		m.block(time.Second, blockOf(r)...)
	}
	for b.Loop() {
		b.StopTimer()
		txs := blockOf(99)
		for _, o := range owners {
			o.Seq--
		}
		b.StartTimer()
		x, err := Execute(m.store, testChain, m.reg, m.state, Block{Height: m.height + 1, Time: m.time + int64(time.Second), Txs: txs}, func(protocol.Hash32) bool { return true })
		if err != nil || x.Results[0].Code != 0 {
			b.Fatal(err, x.Results[0])
		}
	}
}
