package envelope

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

const (
	rssChildEnv = "ENVELOPE_RSS_CHILD_BYTES"
	rssSize     = 256 << 20
	rssLimit    = 64 << 20
)

// TestPeakRSS seals 256 MiB streamed from a generator and opens it again through a pipe, in a
// child process, and checks the child's peak resident set (VmHWM) stays under 64 MiB. The 1 GiB
// run is in scripts/bench-envelope.
func TestPeakRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is Linux-only")
	}
	if testing.Short() {
		t.Skip("streams 256 MiB")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), rssChildEnv+"="+strconv.Itoa(rssSize))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var hwm int64 = -1
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "rss-child VmHWM kB "); ok {
			hwm, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if hwm <= 0 {
		t.Fatalf("child did not report VmHWM:\n%s", out)
	}
	t.Logf("sealing and opening %d MiB: peak RSS %.1f MiB", rssSize>>20, float64(hwm)/1024)
	if hwm*1024 >= rssLimit {
		t.Errorf("peak RSS %d kB, limit %d kB", hwm, rssLimit>>10)
	}
}

// TestRSSChild is the child half of TestPeakRSS; it does nothing in a normal run.
func TestRSSChild(t *testing.T) {
	n, _ := strconv.ParseInt(os.Getenv(rssChildEnv), 10, 64)
	if n <= 0 {
		t.Skip("child of TestPeakRSS")
	}
	sk, owner := newOwner(t)
	gen := io.LimitReader(rand.NewChaCha8([32]byte{7}), n)
	in := sha256.New()
	pr, pw := io.Pipe()
	go func() {
		w, err := Seal(pw, sk.PublicKey(), Metadata{Name: "big", Size: n}, nil)
		if err == nil {
			_, err = io.Copy(w, io.TeeReader(gen, in))
		}
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	r, err := Open(pr, owner)
	if err != nil {
		t.Fatal(err)
	}
	out := sha256.New()
	if got, err := io.Copy(out, r); err != nil || got != n {
		t.Fatalf("opened %d bytes: %v", got, err)
	}
	if !bytes.Equal(in.Sum(nil), out.Sum(nil)) {
		t.Fatal("plaintext differs")
	}
	hwm, err := vmHWM()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("rss-child VmHWM kB %d\n", hwm)
}

func vmHWM() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}
