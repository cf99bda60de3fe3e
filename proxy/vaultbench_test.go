package proxy

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// The vault's benchmarks (make bench-vault): the database against the earlier file-per-grant
// layout (legacyvault_test.go), at the sizes RREC_VAULT_BENCH_SIZES lists (default 10000).
// Each size has one fixture per process: committed state with that many live grants of this
// node and benchOwed ended ones it owes reports for, a database vault and a file-per-grant
// directory holding a fragment for every live grant.

const benchOwed = 1000

func benchSizes(b *testing.B) []int {
	s := os.Getenv("RREC_VAULT_BENCH_SIZES")
	if s == "" {
		s = "10000"
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("RREC_VAULT_BENCH_SIZES: %q", f)
		}
		out = append(out, n)
	}
	return out
}

type vaultFixture struct {
	n      int
	root   string
	sk     *umbral.SecretKey
	ledger *benchLedger
	live   []protocol.ID
	kf     *umbral.VerifiedKeyFrag
	v      *Vault     // root/new/vault, open
	old    *fileVault // root/old/vault
	fresh  int        // grants made up so far for Put and Delete
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[int]*vaultFixture{}
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, fx := range fixtures {
		fx.v.Close()
		fx.ledger.db.Close()
		os.RemoveAll(fx.root)
	}
	os.Exit(code)
}

func fixture(b *testing.B, n int) *vaultFixture {
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if fx := fixtures[n]; fx != nil {
		return fx
	}
	start := time.Now()
	root, err := os.MkdirTemp("", "rrvault-bench-")
	if err != nil {
		b.Fatal(err)
	}
	fx := &vaultFixture{n: n, root: root, kf: testKFrag(b)}
	defer func() {
		if fixtures[n] != fx { // failed half-way
			os.RemoveAll(root)
		}
	}()
	if fx.sk, err = umbral.GenerateSecretKey(); err != nil {
		b.Fatal(err)
	}
	fx.ledger, fx.live = newBenchLedger(b, filepath.Join(root, "ledger"), fx.sk, n, benchOwed)
	built := time.Now()
	fx.v = fx.openNew(b)
	fillFast(b, fx.v, fx.kf, fx.live)
	writeFileLayout(b, filepath.Join(root, "old", "vault"), fx.v.aead, fx.kf, fx.live)
	if fx.old, err = openFileVault(filepath.Join(root, "old", "vault"), fx.v.aead); err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "fixture n=%d: ledger %s, vaults %s\n", n, built.Sub(start).Round(time.Second), time.Since(built).Round(time.Second))
	fixtures[n] = fx
	return fx
}

func (fx *vaultFixture) openNew(b *testing.B) *Vault {
	v, err := OpenVault(filepath.Join(fx.root, "new", "vault"), filepath.Join(fx.root, "vault_key"), nil)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// freshIDs makes up k grants no fixture holds.
func (fx *vaultFixture) freshIDs(k int) []protocol.ID {
	out := make([]protocol.ID, k)
	for i := range out {
		fx.fresh++
		out[i] = protocol.ID{0xfe, byte(fx.fresh >> 24), byte(fx.fresh >> 16), byte(fx.fresh >> 8), byte(fx.fresh)}
	}
	return out
}

// dropFiles removes files of the old layout unsynced: putting a fixture back, not measuring.
func (fx *vaultFixture) dropFiles(b *testing.B, ids []protocol.ID) {
	for _, id := range ids {
		if err := os.Remove(fx.old.path(id)); err != nil {
			b.Fatal(err)
		}
		delete(fx.old.held, id)
	}
}

func perSecond(b *testing.B, n int, unit string) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), unit)
}

// BenchmarkVaultPut: one deposit's write, synced, into a vault of n fragments.
func BenchmarkVaultPut(b *testing.B) {
	for _, n := range benchSizes(b) {
		fx := fixture(b, n)
		b.Run(fmt.Sprintf("new/n=%d", n), func(b *testing.B) {
			ids := fx.freshIDs(b.N)
			b.ResetTimer()
			for i := range b.N {
				if err := fx.v.Put(ids[i], fx.kf, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			perSecond(b, b.N, "puts/s")
			fx.v.mu.Lock()
			_, err := fx.v.deleteLocked(ids)
			fx.v.mu.Unlock()
			if err != nil {
				b.Fatal(err)
			}
		})
		b.Run(fmt.Sprintf("old/n=%d", n), func(b *testing.B) {
			ids := fx.freshIDs(b.N)
			b.ResetTimer()
			for i := range b.N {
				value, err := fx.v.sealValue(ids[i], fx.kf)
				if err == nil {
					err = fx.old.put(ids[i], value)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			perSecond(b, b.N, "puts/s")
			fx.dropFiles(b, ids)
		})
	}
}

// BenchmarkVaultGet: reading and opening one fragment of n, past the vault's cache.
func BenchmarkVaultGet(b *testing.B) {
	for _, n := range benchSizes(b) {
		fx := fixture(b, n)
		for _, layout := range []string{"new", "old"} {
			b.Run(fmt.Sprintf("%s/n=%d", layout, n), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, uint64(n)))
				lat := make([]time.Duration, 0, b.N)
				for range b.N {
					id := fx.live[rng.IntN(len(fx.live))]
					var err error
					if layout == "new" {
						fx.v.cacheMu.Lock()
						delete(fx.v.cache, id)
						fx.v.cacheMu.Unlock()
						t0 := time.Now()
						_, err = fx.v.Get(id)
						lat = append(lat, time.Since(t0))
					} else {
						t0 := time.Now()
						_, err = fx.old.get(id)
						lat = append(lat, time.Since(t0))
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			})
		}
	}
}

// BenchmarkVaultDelete: a commit that ends 100 held grants, in a vault of n.
func BenchmarkVaultDelete(b *testing.B) {
	const block = 100
	for _, n := range benchSizes(b) {
		fx := fixture(b, n)
		b.Run(fmt.Sprintf("new/n=%d", n), func(b *testing.B) {
			b.StopTimer()
			for i := range b.N {
				ids := fx.freshIDs(block)
				fillFast(b, fx.v, fx.kf, ids)
				b.StartTimer()
				fx.v.OnCommit(ledger.CommitInfo{Height: int64(i + 1), Revoked: ids})
				b.StopTimer()
			}
			perSecond(b, block*b.N, "deletes/s")
		})
		b.Run(fmt.Sprintf("old/n=%d", n), func(b *testing.B) {
			b.StopTimer()
			for range b.N {
				ids := fx.freshIDs(block)
				writeFileLayout(b, fx.old.dir, fx.v.aead, fx.kf, ids)
				for _, id := range ids {
					fx.old.held[id] = struct{}{}
				}
				b.StartTimer()
				if err := fx.old.deleteBlock(ids); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
			}
			perSecond(b, block*b.N, "deletes/s")
		})
	}
}

// BenchmarkVaultCommitUnheld: a commit that ends 1000 grants (the most a block expires)
// this node holds no fragment of, in a vault of n: a lookup each, inside ABCI Commit. The
// file layout kept a set of held grants in memory for this.
func BenchmarkVaultCommitUnheld(b *testing.B) {
	for _, n := range benchSizes(b) {
		fx := fixture(b, n)
		ci := ledger.CommitInfo{Height: 1, Expired: make([]ledger.Expiry, 1000)}
		for i, id := range fx.freshIDs(1000) {
			ci.Expired[i].Grant = id
		}
		b.Run(fmt.Sprintf("new/n=%d", n), func(b *testing.B) {
			before := fx.v.ops.writes.Load()
			for range b.N {
				fx.v.OnCommit(ci)
			}
			if fx.v.ops.writes.Load() != before {
				b.Fatal("a commit of grants not held wrote")
			}
		})
		b.Run(fmt.Sprintf("old/n=%d", n), func(b *testing.B) {
			held := 0
			for range b.N {
				for _, e := range ci.Expired {
					if _, ok := fx.old.held[e.Grant]; ok {
						held++
					}
				}
			}
			if held != 0 {
				b.Fatal("held a made-up grant")
			}
		})
	}
}

// BenchmarkVaultStart: what a node's start costs the vault, up to serving: open, then
// reconcile with committed state. The database's sweep runs afterwards, in the background
// (BenchmarkVaultSweep); the file layout's reconcile looks every fragment's grant up first.
func BenchmarkVaultStart(b *testing.B) {
	for _, n := range benchSizes(b) {
		fx := fixture(b, n)
		b.Run(fmt.Sprintf("new/n=%d", n), func(b *testing.B) {
			if err := fx.v.Close(); err != nil {
				b.Fatal(err)
			}
			defer func() { fx.v = fx.openNew(b) }()
			for range b.N {
				v := fx.openNew(b)
				svc, err := New(Config{Ledger: fx.ledger, ProxyKey: fx.sk, Vault: v})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := svc.Reconcile(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if v.Len() != n {
					b.Fatalf("reopened vault holds %d, want %d", v.Len(), n)
				}
				if err := v.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
		b.Run(fmt.Sprintf("old/n=%d", n), func(b *testing.B) {
			for range b.N {
				fv, err := openFileVault(fx.old.dir, fx.v.aead)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := fv.reconcile(fx.ledger); err != nil {
					b.Fatal(err)
				}
				if len(fv.held) != n {
					b.Fatalf("reopened vault holds %d, want %d", len(fv.held), n)
				}
			}
		})
	}
}

// BenchmarkVaultSweep: the database's whole sweep against committed state, unpaced (the
// node's runs paced, in the background, after start).
func BenchmarkVaultSweep(b *testing.B) {
	for _, n := range benchSizes(b) {
		fx := fixture(b, n)
		b.Run(fmt.Sprintf("new/n=%d", n), func(b *testing.B) {
			for range b.N {
				if k, err := ReconcileVault(fx.v, fx.ledger); err != nil || k != 0 {
					b.Fatalf("sweep deleted %d: %v", k, err)
				}
			}
			perSecond(b, n*b.N, "grants/s")
		})
	}
}
