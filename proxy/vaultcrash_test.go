package proxy

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/resilientrecords/resilientrecords/ledger"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

const crashChildEnv = "RREC_VAULT_CRASH_CHILD"

// TestVaultCrashChild is the process TestVaultSurvivesKill kills: it deposits fragments and
// deletes some at commits, without end, printing each deposit once it is acknowledged and
// each deletion when it begins and once it is acknowledged.
func TestVaultCrashChild(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		t.Skip("the process that TestVaultSurvivesKill kills")
	}
	parts := strings.Split(spec, ",")
	start, _ := strconv.Atoi(parts[1])
	kfb, _ := hex.DecodeString(parts[2])
	var k umbral.KeyFrag
	if err := k.UnmarshalBinary(kfb); err != nil {
		t.Fatal(err)
	}
	kf := k.SkipVerification()
	v, err := OpenVault(filepath.Join(parts[0], "vault"), filepath.Join(parts[0], "vault_key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := start; ; i++ {
		if err := v.Put(grantN(i), kf, nil); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("put %d\n", i)
		if i%7 == 0 && i-3 >= start {
			fmt.Printf("deleting %d\n", i-3)
			v.OnCommit(ledger.CommitInfo{Height: int64(i), Revoked: []protocol.ID{grantN(i - 3)}})
			if v.Has(grantN(i - 3)) {
				t.Fatal("not deleted")
			}
			fmt.Printf("del %d\n", i-3)
		}
	}
}

// A vault killed (SIGKILL) while it writes and deletes opens again with every acknowledged
// deposit readable, every acknowledged deletion gone, nothing it holds unreadable, and its
// count equal to what it holds. Three kills in a row, at random points.
func TestVaultSurvivesKill(t *testing.T) {
	root := t.TempDir()
	kf := testKFrag(t)
	kfb, _ := kf.MarshalBinary()
	// Deposits acknowledged, deletions begun, deletions acknowledged.
	put, deleting, deleted := map[int]bool{}, map[int]bool{}, map[int]bool{}
	next := 0
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestVaultCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%x", crashChildEnv, root, next, kfb))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		target, lines := 40+rand.IntN(200), 0
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var i int
			if _, err := fmt.Sscanf(sc.Text(), "put %d", &i); err == nil {
				put[i] = true
				next = max(next, i+10) // past whatever was in flight
			} else if _, err := fmt.Sscanf(sc.Text(), "deleting %d", &i); err == nil {
				deleting[i] = true
			} else if _, err := fmt.Sscanf(sc.Text(), "del %d", &i); err == nil {
				deleted[i] = true
			} else {
				continue
			}
			if lines++; lines == target {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
		}
		err = cmd.Wait()
		if lines < target {
			t.Fatalf("round %d: the child stopped by itself after %d lines (%v): %s", round, lines, err, stderr.Bytes())
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != -1 {
			t.Fatalf("round %d: child ended with %v, want killed", round, err)
		}

		v := openAt(t, root)
		for i := range put {
			if deleted[i] {
				if v.Has(grantN(i)) {
					t.Fatalf("round %d: acknowledged deletion of %d undone", round, i)
				}
				continue
			}
			if deleting[i] && !v.Has(grantN(i)) {
				continue // the kill came during its deletion, after the write
			}
			got, err := v.Get(grantN(i))
			if err != nil {
				t.Fatalf("round %d: acknowledged deposit %d: %v", round, i, err)
			}
			if b, _ := got.MarshalBinary(); !bytes.Equal(b, kfb) {
				t.Fatalf("round %d: deposit %d reads back another fragment", round, i)
			}
		}
		held, err := v.Grants()
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range held {
			if _, err := v.Get(id); err != nil {
				t.Fatalf("round %d: held %v does not read: %v", round, id, err)
			}
		}
		if v.Len() != len(held) {
			t.Fatalf("round %d: Len %d, but %d held", round, v.Len(), len(held))
		}
		t.Logf("round %d: killed after %d acknowledged operations; %d held", round, lines, len(held))
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
