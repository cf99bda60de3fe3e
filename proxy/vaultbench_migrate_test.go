package proxy

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// BenchmarkVaultMigrate: the first start over a file-per-grant directory of n fragments
// (written just before, so in the page cache), up to the database holding them all. It needs
// no committed state, so no fixture.
func BenchmarkVaultMigrate(b *testing.B) {
	kf := testKFrag(b)
	aead, err := chacha20poly1305.NewX(make([]byte, VaultKeySize))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchSizes(b) {
		ids := make([]protocol.ID, n)
		for i := range ids {
			ids[i] = protocol.ID{0xfd, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		}
		b.Run(fmt.Sprintf("new/n=%d", n), func(b *testing.B) {
			b.StopTimer()
			var removal time.Duration
			for range b.N {
				root := b.TempDir()
				writeFileLayout(b, filepath.Join(root, "vault"), aead, kf, ids)
				if err := os.WriteFile(filepath.Join(root, "vault_key"), make([]byte, VaultKeySize), 0o600); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				v, err := OpenVault(filepath.Join(root, "vault"), filepath.Join(root, "vault_key"), nil)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if v.Len() != n {
					b.Fatalf("migrated %d, want %d", v.Len(), n)
				}
				// The old directory's removal, in the background once the vault is open.
				t0 := time.Now()
				for exists(copiedDir(filepath.Join(root, "vault"))) {
					if time.Since(t0) > 30*time.Minute {
						b.Fatal("the copied directory is still there after 30 minutes")
					}
					time.Sleep(10 * time.Millisecond)
				}
				removal += time.Since(t0)
				v.Close()
				os.RemoveAll(root)
			}
			perSecond(b, n*b.N, "fragments/s")
			b.ReportMetric(removal.Seconds()/float64(b.N), "removal-s")
		})
	}
}

// BenchmarkVaultCompact: the compaction that removes deleted values, over a vault of n
// fragments of which 1%, spread over the key range, were just deleted. It needs no committed
// state, so no fixture.
func BenchmarkVaultCompact(b *testing.B) {
	kf := testKFrag(b)
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("new/n=%d", n), func(b *testing.B) {
			b.StopTimer()
			v, _ := testVault(b)
			ids := make([]protocol.ID, n)
			for i := range ids {
				ids[i] = protocol.ID{0xfc, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
			}
			fillFast(b, v, kf, ids)
			for i := range b.N {
				// One in a hundred, all over the key range, as random grant ids fall.
				var dead []protocol.ID
				for j := i % 100; j < n; j += 100 {
					dead = append(dead, ids[j])
				}
				v.mu.Lock()
				_, err := v.deleteLocked(dead)
				v.comp.running = true // the benchmark's compaction, not one in the background
				done := v.comp.uncompacted
				v.mu.Unlock()
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				err = v.compact(done, nil)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
