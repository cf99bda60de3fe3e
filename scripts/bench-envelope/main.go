// Command bench-envelope measures sealing and opening a large file with package envelope
// against filippo.io/age (X25519 recipient: the same ChaCha20-Poly1305 STREAM payload, so the
// same physical limit), and the peak RSS of each.
//
//	go run ./scripts/bench-envelope [-size 1073741824] [-pairs 5] [-dir /tmp]
//
// Every operation runs in its own child process, so the peak RSS (getrusage ru_maxrss) belongs
// to that operation alone. Runs are paired and the order inside a pair alternates, so drift in
// machine load hits both tools alike; the verdict uses the median of the per-pair ratios. The
// command exits non-zero if envelope's median throughput is below 0.95× age's or a peak RSS
// reaches 64 MiB.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/scripts/internal/benchkit"
	"github.com/resilientrecords/resilientrecords/umbral"
)

const (
	minRatio = 0.95
	rssLimit = 64 << 20
)

func main() {
	size := flag.Int64("size", 1<<30, "plaintext bytes")
	pairs := flag.Int("pairs", 5, "measured pairs of runs per operation")
	dir := flag.String("dir", "", "scratch directory (default: a new temporary directory, removed afterwards)")
	child := flag.String("child", "", "internal: run one operation and report its duration")
	flag.Parse()
	if *child != "" {
		if err := runChild(*child, flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*size, *pairs, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench-envelope:", err)
		os.Exit(1)
	}
}

type tool struct{ name, key, sealed string }

type result struct {
	elapsed time.Duration // wall clock, measured inside the child around the operation only
	cpu     time.Duration // user + system CPU time of the whole child
	maxRSS  int64         // bytes
}

func run(size int64, pairs int, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "bench-envelope-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	input := filepath.Join(dir, "plain")
	sum, err := writeInput(input, size)
	if err != nil {
		return err
	}
	tools, err := writeKeys(dir)
	if err != nil {
		return err
	}
	fmt.Printf("plaintext %d MiB, %d pairs (order alternating), %d CPUs, load average %s, scratch %s\n",
		size>>20, pairs, runtime.NumCPU(), benchkit.LoadAvg(), dir)

	// One untimed round warms the page cache and the binaries.
	for _, t := range tools {
		if _, err := child("seal-"+t.name, t.key, input, t.sealed); err != nil {
			return err
		}
	}
	res := map[string][]result{}
	for p := range pairs {
		order := tools
		if p%2 == 1 {
			order = []tool{tools[1], tools[0]}
		}
		for _, t := range order {
			for _, op := range []string{"seal", "open"} {
				r, err := child(op+"-"+t.name, t.key, input, t.sealed)
				if err != nil {
					return err
				}
				res[op+"-"+t.name] = append(res[op+"-"+t.name], r)
			}
		}
		fmt.Printf("pair %d:", p+1)
		for _, op := range []string{"seal", "open"} {
			a, e := res[op+"-age"][p], res[op+"-envelope"][p]
			fmt.Printf("  %s age %s envelope %s (×%.3f)", op, rate(size, a.elapsed), rate(size, e.elapsed), a.elapsed.Seconds()/e.elapsed.Seconds())
		}
		fmt.Println()
	}

	ok := true
	for _, op := range []string{"seal", "open"} {
		a, e := res[op+"-age"], res[op+"-envelope"]
		var ratios []float64
		for i := range a {
			ratios = append(ratios, a[i].elapsed.Seconds()/e[i].elapsed.Seconds())
		}
		ratio := benchkit.Median(ratios)
		verdict := "ok"
		if ratio < minRatio {
			verdict, ok = fmt.Sprintf("BELOW %.2f", minRatio), false
		}
		fmt.Printf("%s: median age %s, envelope %s; median paired ratio envelope/age %.3f [%s]\n",
			op, rate(size, medianDur(a, wall)), rate(size, medianDur(e, wall)), ratio, verdict)
		ratios = ratios[:0]
		for i := range a {
			ratios = append(ratios, a[i].cpu.Seconds()/e[i].cpu.Seconds())
		}
		fmt.Printf("  per CPU-second (user+sys of the child, less sensitive to other load): age %s, envelope %s; median paired ratio %.3f\n",
			rate(size, medianDur(a, cpuTime)), rate(size, medianDur(e, cpuTime)), benchkit.Median(ratios))
		for _, t := range []string{"age", "envelope"} {
			peak := slices.MaxFunc(res[op+"-"+t], func(x, y result) int { return int(x.maxRSS - y.maxRSS) }).maxRSS
			verdict := "ok"
			if peak >= rssLimit {
				verdict, ok = "OVER 64 MiB", false
			}
			fmt.Printf("  peak RSS %-8s %6.1f MiB [%s]\n", t, float64(peak)/(1<<20), verdict)
		}
	}

	for _, t := range tools {
		out, err := exec.Command(os.Args[0], "-child", "verify-"+t.name, t.key, input, t.sealed).Output()
		if err != nil {
			return fmt.Errorf("verify %s: %w", t.name, err)
		}
		if got := strings.TrimSpace(string(out)); got != sum {
			return fmt.Errorf("verify %s: plaintext sha256 %s, want %s", t.name, got, sum)
		}
	}
	fmt.Println("both sealed files open to the original plaintext (sha256 checked)")
	if !ok {
		return errors.New("a target was missed")
	}
	return nil
}

func writeInput(path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := io.Copy(bw, io.LimitReader(rand.NewChaCha8([32]byte{1}), size)); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), f.Close()
}

func writeKeys(dir string) ([]tool, error) {
	sk, err := umbral.GenerateSecretKey()
	if err != nil {
		return nil, err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	tools := []tool{
		{"age", filepath.Join(dir, "age.key"), filepath.Join(dir, "sealed.age")},
		{"envelope", filepath.Join(dir, "envelope.key"), filepath.Join(dir, "sealed.rrenv")},
	}
	if err := os.WriteFile(tools[0].key, []byte(id.String()), 0o600); err != nil {
		return nil, err
	}
	return tools, os.WriteFile(tools[1].key, []byte(hex.EncodeToString(sk.Bytes())), 0o600)
}

// child runs one operation in a fresh process and returns its own timing and peak RSS.
func child(op, key, input, sealed string) (result, error) {
	cmd := exec.Command(os.Args[0], "-child", op, key, input, sealed)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("%s: %w", op, err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return result{}, fmt.Errorf("%s: bad report %q", op, out)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if ru == nil {
		return result{}, errors.New("no rusage")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return result{elapsed: time.Duration(ns), cpu: cpu, maxRSS: ru.Maxrss << 10}, nil // Linux: ru_maxrss in KiB
}

func runChild(op string, args []string) error {
	if len(args) != 3 {
		return errors.New("usage: -child OP KEYFILE INPUT SEALED")
	}
	keyText, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	open := func(name string) (io.Reader, func() error, error) { // a plaintext reader over SEALED
		f, err := os.Open(args[2])
		if err != nil {
			return nil, nil, err
		}
		r, err := openSealed(name, string(keyText), f)
		return r, f.Close, err
	}
	start := time.Now()
	switch op {
	case "seal-age", "seal-envelope":
		in, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(args[2])
		if err != nil {
			return err
		}
		if err := sealTo(strings.TrimPrefix(op, "seal-"), string(keyText), in, out); err != nil {
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	case "open-age", "open-envelope":
		r, closeFn, err := open(strings.TrimPrefix(op, "open-"))
		if err != nil {
			return err
		}
		defer closeFn()
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
	case "verify-age", "verify-envelope":
		r, closeFn, err := open(strings.TrimPrefix(op, "verify-"))
		if err != nil {
			return err
		}
		defer closeFn()
		h := sha256.New()
		if _, err := io.Copy(h, r); err != nil {
			return err
		}
		fmt.Println(hex.EncodeToString(h.Sum(nil)))
		return nil
	default:
		return fmt.Errorf("unknown operation %q", op)
	}
	fmt.Println(time.Since(start).Nanoseconds())
	return nil
}

func sealTo(name, key string, in *os.File, out io.Writer) error {
	var w io.WriteCloser
	switch name {
	case "age":
		id, err := age.ParseX25519Identity(key)
		if err != nil {
			return err
		}
		if w, err = age.Encrypt(out, id.Recipient()); err != nil {
			return err
		}
	case "envelope":
		sk, err := parseUmbralKey(key)
		if err != nil {
			return err
		}
		st, err := in.Stat()
		if err != nil {
			return err
		}
		meta := envelope.Metadata{Name: filepath.Base(in.Name()), MediaType: "application/octet-stream", Size: st.Size(), Created: st.ModTime()}
		if w, err = envelope.Seal(out, sk.PublicKey(), meta, nil); err != nil {
			return err
		}
	}
	if _, err := io.Copy(w, in); err != nil {
		return err
	}
	return w.Close()
}

func openSealed(name, key string, src io.Reader) (io.Reader, error) {
	if name == "age" {
		id, err := age.ParseX25519Identity(key)
		if err != nil {
			return nil, err
		}
		return age.Decrypt(src, id)
	}
	sk, err := parseUmbralKey(key)
	if err != nil {
		return nil, err
	}
	return envelope.Open(src, envelope.OwnerKey{Delegating: sk})
}

func parseUmbralKey(key string) (*umbral.SecretKey, error) {
	b, err := hex.DecodeString(strings.TrimSpace(key))
	if err != nil {
		return nil, err
	}
	return umbral.SecretKeyFromBytes(b)
}

func rate(size int64, d time.Duration) string {
	return fmt.Sprintf("%7.1f MiB/s", float64(size)/(1<<20)/d.Seconds())
}

func wall(r result) time.Duration    { return r.elapsed }
func cpuTime(r result) time.Duration { return r.cpu }

func medianDur(rs []result, f func(result) time.Duration) time.Duration {
	var ds []time.Duration
	for _, r := range rs {
		ds = append(ds, f(r))
	}
	return benchkit.Median(ds)
}
