package ledger_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// TestTranscript is a golden test of the whole state machine, in the manner of
// go.etcd.io/raft's testdata: testdata/transcript/input.txt is a genesis and a sequence of
// blocks of signed transactions (every transaction type and every interesting refusal),
// then a few queries; testdata/transcript/output.txt is what the machine makes of it, per
// block: each transaction's result code and log, the events, what the commit hooks are told,
// and the app hash, which covers every byte of state. Any change to the rules, the events,
// the state layout or the encoding of a state value shows up as a diff.
//
// The output is a function of the input alone. The input holds signatures and capsules,
// which are randomised, so it is committed too and only rewritten on purpose:
//
//	go test ./ledger -run TestTranscript -update                            # accept a new output
//	go test ./ledger -run TestTranscript -regen-transcript-input -update    # new input, new output
//
// The generator seeds the randomness, so regenerating gives the same bytes as long as the
// scenario, the key generation and the signing code are unchanged.
var (
	update            = flag.Bool("update", false, "rewrite testdata/transcript/output.txt")
	regenTranscriptIn = flag.Bool("regen-transcript-input", false, "rewrite testdata/transcript/input.txt from the generator")
)

var (
	transcriptIn  = filepath.Join("testdata", "transcript", "input.txt")
	transcriptOut = filepath.Join("testdata", "transcript", "output.txt")
)

func TestTranscript(t *testing.T) {
	if *regenTranscriptIn {
		s := generateTranscript(t)
		if err := os.MkdirAll(filepath.Dir(transcriptIn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(transcriptIn, []byte(s.format()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in, err := os.ReadFile(transcriptIn)
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseTranscript(in)
	if err != nil {
		t.Fatalf("%s: %v", transcriptIn, err)
	}
	got := runTranscript(t, s)
	if again := runTranscript(t, s); again != got {
		t.Fatal("two runs of the same input differ")
	}
	if *update {
		if err := os.WriteFile(transcriptOut, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(transcriptOut)
	if err != nil {
		t.Fatal(err)
	}
	if d := firstDiff(string(want), got); d != "" {
		t.Fatalf("the state machine's transcript differs from %s (run with -update to accept a deliberate change)\n%s", transcriptOut, d)
	}
}

// transcript is the input: a chain, its genesis, names for the hex the output would
// otherwise be full of, blocks and queries.
type transcript struct {
	chain   string
	genesis []byte // app_state JSON
	aliases []alias
	blocks  []tBlock
	queries []string
}

type alias struct{ name, hex string }

type tBlock struct {
	comment string
	height  int64
	time    time.Time
	txs     []tTx
}

type tTx struct {
	name string
	raw  []byte
}

const transcriptInputHeader = `# Input of TestTranscript (ledger/transcript_test.go): a genesis, blocks of signed
# transactions and queries of the final state. Generated; do not edit (the signatures cover
# every byte). Regenerate with
#   go test ./ledger -run TestTranscript -regen-transcript-input -update
#
#   chain <chain id>
#   genesis <app_state JSON>
#   alias <name> <hex>          the output says <name> wherever <hex> appears
#   block <height> <time>       block time, RFC 3339
#   tx <name> <hex>             a transaction of the block (its hash is called <name> too)
#   query <path>                a query of the state after the last block
`

func (s *transcript) format() string {
	var b strings.Builder
	b.WriteString(transcriptInputHeader)
	fmt.Fprintf(&b, "\nchain %s\ngenesis %s\n\n", s.chain, s.genesis)
	for _, a := range s.aliases {
		fmt.Fprintf(&b, "alias %s %s\n", a.name, a.hex)
	}
	for _, bl := range s.blocks {
		b.WriteString("\n")
		if bl.comment != "" {
			fmt.Fprintf(&b, "# %s\n", bl.comment)
		}
		fmt.Fprintf(&b, "block %d %s\n", bl.height, bl.time.UTC().Format(time.RFC3339Nano))
		for _, tx := range bl.txs {
			fmt.Fprintf(&b, "tx %s %x\n", tx.name, tx.raw)
		}
	}
	b.WriteString("\n")
	for _, q := range s.queries {
		fmt.Fprintf(&b, "query %s\n", q)
	}
	return b.String()
}

func parseTranscript(in []byte) (*transcript, error) {
	s := &transcript{}
	names := map[string]bool{}
	name := func(n string) error {
		if n == "" || strings.ContainsAny(n, " \t") || names[n] {
			return fmt.Errorf("name %q is empty or used twice", n)
		}
		names[n] = true
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(in))
	sc.Buffer(nil, 1<<20)
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		verb, rest, _ := strings.Cut(line, " ")
		fail := func(format string, args ...any) error {
			return fmt.Errorf("line %d (%s): %s", ln, verb, fmt.Sprintf(format, args...))
		}
		switch verb {
		case "chain":
			s.chain = rest
		case "genesis":
			s.genesis = []byte(rest)
		case "alias":
			n, h, _ := strings.Cut(rest, " ")
			if err := name(n); err != nil {
				return nil, fail("%v", err)
			}
			if _, err := hex.DecodeString(h); err != nil || h != strings.ToLower(h) || len(h) < 16 {
				return nil, fail("bad hex %q", h)
			}
			s.aliases = append(s.aliases, alias{n, h})
		case "block":
			hs, ts, _ := strings.Cut(rest, " ")
			h, err := strconv.ParseInt(hs, 10, 64)
			if err != nil || h != int64(len(s.blocks))+1 {
				return nil, fail("height %q, want %d", hs, len(s.blocks)+1)
			}
			tm, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				return nil, fail("%v", err)
			}
			if len(s.blocks) > 0 && tm.Before(s.blocks[len(s.blocks)-1].time) {
				return nil, fail("block time goes back")
			}
			s.blocks = append(s.blocks, tBlock{height: h, time: tm})
		case "tx":
			n, h, _ := strings.Cut(rest, " ")
			raw, err := hex.DecodeString(h)
			if err != nil || len(s.blocks) == 0 {
				return nil, fail("bad hex or no block")
			}
			if err := name(n); err != nil {
				return nil, fail("%v", err)
			}
			b := &s.blocks[len(s.blocks)-1]
			b.txs = append(b.txs, tTx{n, raw})
		case "query":
			s.queries = append(s.queries, rest)
		default:
			return nil, fail("unknown directive")
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if s.chain == "" || len(s.genesis) == 0 || len(s.blocks) == 0 {
		return nil, fmt.Errorf("no chain, genesis or blocks")
	}
	return s, nil
}

const transcriptOutputHeader = `# Output of TestTranscript (ledger/transcript_test.go) for input.txt, compared byte for
# byte; rewrite with -update after a deliberate change. Hex that an alias, a registry node or
# a transaction of the input names is replaced by that name. Per block: the block's events
# (expiries, which run before the transactions), then per transaction its result code and
# log and its events (attributes marked * are indexed), what the commit hooks are told, and
# the number of writes and the app hash. Then the queries of the final state.
`

// runTranscript executes the input and renders the output.
func runTranscript(t *testing.T, s *transcript) string {
	var out strings.Builder
	out.WriteString(transcriptOutputHeader)
	ws, state, err := ledger.Genesis(s.genesis)
	if err != nil {
		t.Fatalf("genesis: %v", err)
	}
	st := ledger.NewMemStore()
	st.Apply(ws)
	reg, err := ledger.LoadRegistry(st)
	if err != nil {
		t.Fatal(err)
	}
	appHash := state.AppHash()
	fmt.Fprintf(&out, "\ngenesis\n  writes %d, app_hash %x\n", len(ws), appHash)
	var last tBlock
	for _, b := range s.blocks {
		raws := make([][]byte, len(b.txs))
		for i, tx := range b.txs {
			raws[i] = tx.raw
		}
		x, err := ledger.Execute(st, s.chain, reg, state, ledger.Block{Height: b.height, Time: b.time.UnixNano(), Txs: raws}, nil)
		if err != nil {
			t.Fatalf("block %d: %v", b.height, err)
		}
		fmt.Fprintf(&out, "\nblock %d at %s\n", b.height, b.time.UTC().Format(time.RFC3339Nano))
		for _, e := range x.Events {
			writeEvent(&out, "  ", e)
		}
		for i, r := range x.Results {
			fmt.Fprintf(&out, "  tx %s: %d %s", b.txs[i].name, r.Code, protocol.CodeName(r.Code))
			if r.Log != "" {
				fmt.Fprintf(&out, ", log %q", r.Log)
			}
			out.WriteString("\n")
			for _, e := range r.Events {
				writeEvent(&out, "    ", e)
			}
		}
		writeCommit(&out, x.Commit)
		fmt.Fprintf(&out, "  writes %d, app_hash %x\n", len(x.Writes), x.AppHash)
		st.Apply(x.Writes)
		state, appHash, last = x.State, x.AppHash, b
	}
	// The hash kept block by block is the hash of the state it arrived at: what a node
	// restored from a snapshot of that state recomputes.
	if fresh, err := ledger.HashState(st); err != nil || string(fresh.AppHash()) != string(appHash) {
		t.Fatalf("the state hash recomputed from the final state differs from the one kept per block (%v)", err)
	}
	snap := ledger.NewSnapshot(st, nil, s.chain, last.height, last.time.UnixNano(), appHash)
	for _, q := range s.queries {
		fmt.Fprintf(&out, "\nquery %s\n", q)
		v, err := snap.Query(q)
		if err != nil {
			fmt.Fprintf(&out, "  error %s\n", err)
			continue
		}
		b, err := json.MarshalIndent(v, "  ", "  ")
		if err != nil {
			t.Fatalf("query %s: %v", q, err)
		}
		fmt.Fprintf(&out, "  %s\n", b)
	}
	return aliasReplacer(t, s, reg).Replace(out.String())
}

func writeEvent(out *strings.Builder, indent string, e ledger.Event) {
	fmt.Fprintf(out, "%s%s:", indent, e.Type)
	for _, a := range e.Attrs {
		star := ""
		if a.Index {
			star = "*"
		}
		fmt.Fprintf(out, " %s=%s%s", a.Key, a.Value, star)
	}
	out.WriteString("\n")
}

func writeCommit(out *strings.Builder, ci ledger.CommitInfo) {
	var parts []string
	ids := func(what string, ids []protocol.ID) {
		if len(ids) == 0 {
			return
		}
		s := make([]string, len(ids))
		for i, id := range ids {
			s[i] = id.String()
		}
		parts = append(parts, what+" "+strings.Join(s, " "))
	}
	ids("put", ci.Put)
	ids("revoked", ci.Revoked)
	for _, e := range ci.Expired {
		parts = append(parts, fmt.Sprintf("expired %s of %s", e.Grant, e.Record))
	}
	for _, e := range ci.Erased {
		parts = append(parts, fmt.Sprintf("erased %s cid %q", e.Record, e.CID))
	}
	if len(parts) > 0 {
		fmt.Fprintf(out, "  commit: %s\n", strings.Join(parts, "; "))
	}
}

// aliasReplacer replaces the hex of the input's aliases, of the registry's proxy keys and of
// the transactions' hashes (lower and upper case) by their names.
func aliasReplacer(t *testing.T, s *transcript, reg ledger.Registry) *strings.Replacer {
	var as []alias
	as = append(as, s.aliases...)
	var gs ledger.GenesisState
	if err := json.Unmarshal(s.genesis, &gs); err != nil {
		t.Fatal(err)
	}
	for _, n := range gs.Nodes {
		as = append(as, alias{n.Name, n.ProxyKey.String()})
	}
	for _, b := range s.blocks {
		for _, tx := range b.txs {
			as = append(as, alias{tx.name, protocol.TxHash(tx.raw).String()})
		}
	}
	seen := map[string]bool{}
	var pairs []string
	// Longest first, so that no name replaces part of a longer hex string.
	slices.SortStableFunc(as, func(a, b alias) int { return len(b.hex) - len(a.hex) })
	for _, a := range as {
		if seen[a.hex] {
			continue // a transaction repeated byte for byte keeps its first name
		}
		seen[a.hex] = true
		pairs = append(pairs, a.hex, a.name, strings.ToUpper(a.hex), a.name)
	}
	return strings.NewReplacer(pairs...)
}

// firstDiff describes the first line where got differs from want, with context.
func firstDiff(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "first difference at line %d:\n", i+1)
	for j := max(0, i-3); j < i; j++ {
		fmt.Fprintf(&b, "      %s\n", w[j])
	}
	for j := i; j < min(i+3, len(w)); j++ {
		fmt.Fprintf(&b, "want: %s\n", w[j])
	}
	for j := i; j < min(i+3, len(g)); j++ {
		fmt.Fprintf(&b, " got: %s\n", g[j])
	}
	fmt.Fprintf(&b, "(%d lines wanted, %d got)", len(w), len(g))
	return b.String()
}

// generateTranscript makes the input: always the same blocks, in the same order, with the
// same intent for each transaction; the keys, capsules and signatures come from seeded
// randomness, and every transaction expires protocoltest.Lifetime after its block's time
// unless it says otherwise.
//
// A transaction refused once its signature and sequence checked out spends its sequence, so
// the generator signs it with Next; one refused before (it does not parse, is statelessly
// invalid, is for another chain, has a bad signature or sequence) with Sign or SignAt.
func generateTranscript(t *testing.T) *transcript {
	cryptotest.SetGlobalRandom(t, 20260301)
	const chain = "rr-transcript"
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }

	var cur *tBlock
	clock := func() time.Time { return cur.time }
	nodes := protocoltest.NewAccounts(chain, 4)
	// A small self-service allowance, so that the transcript reaches it.
	gs := ledger.GenesisState{Replication: 2, Admission: &protocol.AdmissionRules{EnrolBits: 8,
		Self: protocol.Allowance{Records: 1, Bytes: 5000, Grants: 1}, Member: protocol.DefaultAdmission.Member,
		SelfPool: protocol.Allowance{Records: 10, Bytes: 4500, Grants: 10}}}
	for i, n := range nodes {
		n.Clock = clock
		gs.Nodes = append(gs.Nodes, protocol.Node{Name: fmt.Sprintf("node%d", i), API: fmt.Sprintf("https://node%d.example:26680", i),
			ProxyKey: n.Key, ValidatorKey: bytes.Repeat([]byte{byte(0xa0 + i)}, 32), Power: 10})
	}
	genesis, err := json.Marshal(gs)
	if err != nil {
		t.Fatal(err)
	}
	s := &transcript{chain: chain, genesis: genesis}
	alice, bob, carol := protocoltest.NewAccount(chain), protocoltest.NewAccount(chain), protocoltest.NewAccount(chain)
	dave, erin := protocoltest.NewAccount(chain), protocoltest.NewAccount(chain)
	alice.Clock, bob.Clock, carol.Clock, dave.Clock, erin.Clock = clock, clock, clock, clock, clock
	name := func(n string, h fmt.Stringer) { s.aliases = append(s.aliases, alias{n, h.String()}) }
	name("alice", alice.Key)
	name("bob", bob.Key)
	name("carol", carol.Key)
	name("dave", dave.Key)
	name("erin", erin.Key)
	missingRecord, missingGrant := protocol.ID{0x77, 0x77}, protocol.ID{0x66, 0x66}
	name("missing-record", missingRecord)
	name("missing-grant", missingGrant)

	block := func(comment string, d time.Duration) {
		s.blocks = append(s.blocks, tBlock{comment: comment, height: int64(len(s.blocks)) + 1, time: t0.Add(d)})
		cur = &s.blocks[len(s.blocks)-1]
	}
	tx := func(n string, raw []byte) { cur.txs = append(cur.txs, tTx{n, raw}) }
	// sealed signs body by a at its sequence, expiring at expires, and advances the sequence
	// (the ledger spends it whether it expired or not).
	sealed := func(a *protocoltest.Account, expires time.Time, body protocol.Body) []byte {
		raw, err := protocol.Sealed(a.Signer, chain, a.Seq, expires, body)
		if err != nil {
			t.Fatal(err)
		}
		a.Seq++
		return raw
	}
	nodeKeys := protocoltest.Keys(nodes)
	// grant is by's grant: the accounts have one key, which stands for both of a person's keys.
	grant := func(by *protocoltest.Account, rec protocol.ID, to *protocoltest.Account, on []protocol.PubKey, notBefore, notAfter int64, purpose string) *protocol.Grant {
		g := protocoltest.Grant(rec, to.Key, on, notAfter)
		g.NotBefore, g.Purpose, g.OwnerEnc = notBefore, purpose, by.Key
		return g
	}
	destroyed := func(g protocol.ID) *protocol.FragmentDestroyed { return &protocol.FragmentDestroyed{Grant: g} }
	// placed and unplaced split the registry's nodes by whether they hold rec's blob.
	placed := func(rec protocol.ID) (in, out []*protocoltest.Account) {
		p := protocol.Placement(rec, gs.Nodes, gs.Replication)
		for i, n := range nodes {
			if slices.Contains(p, i) {
				in = append(in, n)
			} else {
				out = append(out, n)
			}
		}
		return in, out
	}

	enrol := func(a *protocoltest.Account, bits int) *protocol.Enrol {
		for nonce := uint64(0); ; nonce++ {
			if z := protocol.LeadingZeros(protocol.EnrolWork(chain, a.Key, nonce)); (bits > 0 && z >= bits) || (bits < 0 && z < -bits) {
				return &protocol.Enrol{Nonce: nonce}
			}
		}
	}
	block("admission: node0's operator admits alice and bob; carol enrols with 8 bits of work; the rest are refused", 5*time.Second)
	tx("dave-not-admitted", dave.Next(protocoltest.PutRecord("bafkrei-dave", 10)))
	tx("admit-alice-bob", nodes[0].Next(&protocol.Admit{Tier: protocol.TierMember, Accounts: []protocol.PubKey{alice.Key, bob.Key}}))
	tx("admit-by-account", alice.Next(&protocol.Admit{Tier: protocol.TierMember, Accounts: []protocol.PubKey{dave.Key}}))
	tx("admit-a-node", nodes[1].Next(&protocol.Admit{Tier: protocol.TierSelf, Accounts: []protocol.PubKey{nodes[2].Key}}))
	tx("enrol-carol-too-little-work", carol.Next(enrol(carol, -8)))
	tx("enrol-carol", carol.Next(enrol(carol, 8)))
	tx("enrol-alice-admitted", alice.Next(enrol(alice, 8)))
	tx("enrol-erin", erin.Next(enrol(erin, 8)))

	recA := alice.RecordID()
	name("record-A", recA)
	block("alice puts two records; transactions that do not parse or are invalid on their own", 10*time.Second)
	putA := alice.Next(protocoltest.PutRecord("bafkrei-record-a", 1000))
	tx("put-A", putA)
	recB := alice.RecordID()
	name("record-B", recB)
	tx("put-B", alice.Next(protocoltest.PutRecord("bafkrei-record-b", 2000)))
	tx("garbage", []byte("not a transaction"))
	unsupported := bob.Sign(&protocol.Revoke{Grant: missingGrant})
	unsupported[1] = 250 // outside every type a branch has reserved
	tx("unsupported-type", unsupported)
	tx("truncated", putA[:len(putA)-1])
	tx("put-no-cid", bob.Sign(&protocol.PutRecord{Capsule: protocol.CapsuleBytes{}, DelegatingKey: bob.Key}))
	noExpiry := &protocol.Tx{ChainID: chain, Sequence: bob.Seq, Body: &protocol.Revoke{Grant: missingGrant}}
	if err := noExpiry.Sign(bob.Signer); err != nil {
		t.Fatal(err)
	}
	tx("expires-zero", noExpiry.Encode())

	g1, g2, g3 := protocol.GrantID(chain, alice.Key, alice.Seq), protocol.GrantID(chain, alice.Key, alice.Seq+1), protocol.GrantID(chain, alice.Key, alice.Seq+2)
	name("grant-1", g1)
	name("grant-2", g2)
	name("grant-3", g3)
	block("grants; grants the ledger refuses (they spend the sequence) and refused before (invalid alone, replayed, of another chain, broken)", 20*time.Second)
	tx("grant-1-A-to-bob", alice.Next(grant(alice, recA, bob, nodeKeys, 0, 0, "treatment")))
	g2body := grant(alice, recA, carol, nodeKeys[:3], at(40*time.Second), at(60*time.Second), "second opinion")
	g2body.Threshold = 2
	tx("grant-2-A-to-carol-40s-60s-2-of-3", alice.Next(g2body))
	tx("grant-3-B-to-bob-1h", alice.Next(grant(alice, recB, bob, nodeKeys, 0, at(time.Hour), "follow-up")))
	tx("grant-by-stranger", carol.Next(grant(carol, recA, carol, nodeKeys, 0, 0, "curiosity")))
	tx("grant-missing-record", alice.Next(grant(alice, missingRecord, bob, nodeKeys, 0, 0, "treatment")))
	tx("grant-unknown-node", alice.Next(grant(alice, recA, bob, []protocol.PubKey{nodeKeys[0], bob.Key}, 0, 0, "treatment")))
	tx("grant-already-over", alice.Next(grant(alice, recA, bob, nodeKeys, 0, at(15*time.Second), "treatment")))
	weak := grant(alice, recA, bob, nodeKeys, 0, 0, "treatment")
	weak.Threshold = 1 // f = 1 of the 4 nodes could re-encrypt alone
	tx("grant-threshold-1-of-4", alice.Next(weak))
	few := grant(alice, recA, bob, nodeKeys[:2], 0, 0, "treatment")
	few.Threshold = 2 // one failing node of the two leaves fewer than 2
	tx("grant-2-of-2-nodes", alice.Next(few))
	badThreshold := grant(alice, recA, bob, nodeKeys, 0, 0, "treatment")
	badThreshold.Threshold = 5
	tx("grant-threshold-5-of-4", alice.Sign(badThreshold))
	tx("replay-put-A", putA)
	tx("sequence-ahead", alice.SignAt(alice.Seq+1, &protocol.Revoke{Grant: g1}))
	other, err := protocol.Sealed(alice.Signer, "rr-other", alice.Seq, cur.time.Add(protocoltest.Lifetime), &protocol.Revoke{Grant: g1})
	if err != nil {
		t.Fatal(err)
	}
	tx("wrong-chain", other)
	broken := alice.Sign(&protocol.Revoke{Grant: g1})
	broken[len(broken)-1] ^= 1
	tx("bad-signature", broken)

	inA, outA := placed(recA)
	inB, _ := placed(recB)
	block("access requests; holding reports; a grant node cannot report a live grant; transactions out of their time", 30*time.Second)
	tx("request-1", bob.Next(&protocol.RequestAccess{Grant: g1, Purpose: "consultation"}))
	tx("request-2-too-early", carol.Next(&protocol.RequestAccess{Grant: g2, Purpose: "second opinion"}))
	tx("request-by-owner", alice.Next(&protocol.RequestAccess{Grant: g1}))
	tx("request-missing-grant", bob.Next(&protocol.RequestAccess{Grant: missingGrant}))
	tx("holds-A-placed", inA[0].Next(&protocol.HoldsBlob{Record: recA}))
	tx("holds-A-again", inA[0].Next(&protocol.HoldsBlob{Record: recA}))
	tx("holds-A-not-placed", outA[0].Next(&protocol.HoldsBlob{Record: recA}))
	tx("holds-A-not-a-node", alice.Next(&protocol.HoldsBlob{Record: recA}))
	tx("holds-missing-record", inA[0].Next(&protocol.HoldsBlob{Record: missingRecord}))
	tx("holds-B-placed-1", inB[0].Next(&protocol.HoldsBlob{Record: recB}))
	tx("holds-B-placed-2-expires-now", sealed(inB[1], cur.time, &protocol.HoldsBlob{Record: recB})) // in time
	// node 3 holds none of a live grant (it lost it): it says so
	tx("lost-1-live-node3", nodes[3].Next(destroyed(g1)))
	expired := sealed(alice, cur.time.Add(-5*time.Second), &protocol.Revoke{Grant: g1}) // would revoke grant-1
	tx("revoke-1-expired-tx", expired)
	tx("revoke-1-expires-too-far", sealed(alice, cur.time.Add(protocol.MaxTxLifetime+time.Second), &protocol.Revoke{Grant: g1}))

	block("inside grant-2's window; revocation; the expired transaction cannot come back", 45*time.Second)
	tx("request-2", carol.Next(&protocol.RequestAccess{Grant: g2, Purpose: "second opinion"}))
	tx("revoke-1", alice.Next(&protocol.Revoke{Grant: g1}))
	tx("request-1-revoked", bob.Next(&protocol.RequestAccess{Grant: g1, Purpose: "again"}))
	tx("revoke-1-again", alice.Next(&protocol.Revoke{Grant: g1}))
	tx("revoke-by-recipient", carol.Next(&protocol.Revoke{Grant: g2}))
	tx("revoke-missing-grant", alice.Next(&protocol.Revoke{Grant: missingGrant}))
	tx("replay-expired-tx", expired)

	block("grant-1's nodes report destroying their fragments; reports refused", 50*time.Second)
	tx("destroyed-1-node0", nodes[0].Next(destroyed(g1)))
	tx("destroyed-1-node1", nodes[1].Next(destroyed(g1)))
	tx("destroyed-1-node0-again", nodes[0].Next(destroyed(g1)))
	tx("destroyed-1-not-a-node", bob.Next(destroyed(g1)))
	tx("destroyed-missing-grant", nodes[2].Next(destroyed(missingGrant)))
	tx("lost-2-live-node2", nodes[2].Next(destroyed(g2)))

	block("no transactions: block time reaches grant-2's not-after, which expires", 60*time.Second)

	block("after expiry: reports; revoking an expired grant is allowed (its nodes owe nothing new)", 70*time.Second)
	tx("request-2-expired", carol.Next(&protocol.RequestAccess{Grant: g2, Purpose: "late"}))
	tx("destroyed-2-node1", nodes[1].Next(destroyed(g2)))
	tx("destroyed-2-not-grant-node", nodes[3].Next(destroyed(g2)))
	tx("revoke-2-expired", alice.Next(&protocol.Revoke{Grant: g2}))
	tx("destroyed-2-node2", nodes[2].Next(destroyed(g2)))

	block("an empty block: no writes, the app hash stays", 80*time.Second)

	g4 := alice.GrantID()
	name("grant-4", g4)
	block("erasure of record-B revokes its live grants, one of them made in the same block", 90*time.Second)
	tx("grant-4-B-to-carol", alice.Next(grant(alice, recB, carol, nodeKeys, 0, 0, "research")))
	tx("erase-by-stranger", bob.Next(&protocol.EraseRecord{Record: recB}))
	tx("erase-missing-record", alice.Next(&protocol.EraseRecord{Record: missingRecord}))
	tx("erase-B", alice.Next(&protocol.EraseRecord{Record: recB}))
	tx("request-3-erased", bob.Next(&protocol.RequestAccess{Grant: g3, Purpose: "follow-up"}))

	var recC protocol.ID
	block("everything about an erased record is refused, but the reports of its grants' nodes; "+
		"its blob stays its owner's: another account cannot name it", 100*time.Second)
	tx("erase-B-again", alice.Next(&protocol.EraseRecord{Record: recB}))
	tx("grant-B-erased", alice.Next(grant(alice, recB, bob, nodeKeys, 0, 0, "treatment")))
	tx("holds-B-erased", inB[0].Next(&protocol.HoldsBlob{Record: recB}))
	tx("put-squatting-B-blob", bob.Next(protocoltest.PutRecord("bafkrei-record-b", 3000)))
	recC = bob.RecordID()
	name("record-C", recC)
	tx("put-C", bob.Next(protocoltest.PutRecord("bafkrei-record-c", 3000)))
	tx("destroyed-3-node2", nodes[2].Next(destroyed(g3)))
	tx("destroyed-4-node3", nodes[3].Next(destroyed(g4)))
	recD := carol.RecordID()
	name("record-D", recD)
	tx("put-D-self-tier", carol.Next(protocoltest.PutRecord("bafkrei-record-d", 4000)))
	tx("put-over-self-allowance", carol.Next(protocoltest.PutRecord("bafkrei-record-e", 10)))
	tx("grant-D-to-bob", carol.Next(grant(carol, recD, bob, nodeKeys, 0, 0, "treatment")))
	tx("grant-over-self-allowance", carol.Next(grant(carol, recD, alice, nodeKeys, 0, 0, "treatment")))
	tx("put-over-self-pool", erin.Next(protocoltest.PutRecord("bafkrei-record-f", 1000)))

	block("carol becomes a member: her records leave the self pool, which takes erin's", 30*time.Minute)
	tx("admit-carol-member", nodes[1].Next(&protocol.Admit{Tier: protocol.TierMember, Accounts: []protocol.PubKey{carol.Key}}))
	tx("put-F-in-freed-pool", erin.Next(protocoltest.PutRecord("bafkrei-record-f", 1000)))

	block("grant-3's not-after passes, but erasure revoked it: nothing expires", time.Hour+10*time.Second)

	rq := recoveryScenes(t, scenes{chain: chain, clock: clock, block: block, tx: tx, name: name, nodes: nodes},
		alice, bob, carol, dave, erin)

	txHash := func(n string) string {
		for _, b := range s.blocks {
			for _, x := range b.txs {
				if x.name == n {
					return protocol.TxHash(x.raw).String()
				}
			}
		}
		t.Fatalf("no transaction %s", n)
		return ""
	}
	s.queries = []string{
		"/nodes",
		"/account/" + alice.Key.String(),
		"/record/" + recA.String(),
		"/record/" + recB.String(),
		"/grant/" + g1.String(),
		"/grant/" + g2.String(),
		"/grant/" + g3.String(),
		"/grant/" + g4.String(),
		"/records/owner/" + alice.Key.String(),
		"/grants/record/" + recB.String() + "?start=1&limit=1",
		"/grants/recipient/" + carol.Key.String(),
		"/audit/" + recA.String(),
		"/audit/" + recB.String(),
		"/request/" + txHash("request-1"),
		"/request/" + txHash("request-2"),
		"/request/" + txHash("request-by-owner"), // refused: not_found
		"/tombstone/" + recB.String(),
		"/tombstone/" + recA.String(),
		"/records/cid/bafkrei-record-b",
		"/placement/" + recA.String(),
		"/admission",
		"/admission/" + carol.Key.String(),
		"/admission/" + erin.Key.String(),
		"/admission/" + alice.Key.String(),
		"/admission/" + dave.Key.String(), // refused: not_found
		"/status",
	}
	s.queries = append(s.queries, rq...)
	s.queries = append(s.queries, caregiverScenes(scenes{chain: chain, clock: clock, block: block, tx: tx, name: name, nodes: nodes},
		alice, bob, carol, erin, recA, recC)...)
	return s
}
