// Command bench-vault runs the proxy vault's Go benchmarks (proxy/vaultbench*_test.go) —
// the goleveldb database against the earlier file-per-grant directory — at several sizes,
// and prints the median of each figure over the runs. It asserts nothing.
//
//	go run ./scripts/bench-vault [-sizes 10000,100000,1000000] [-count 5] [-migrate-count 1] [-benchtime 1s]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resilientrecords/resilientrecords/scripts/internal/benchkit"
)

func main() {
	sizes := flag.String("sizes", "10000,100000,1000000", "vault sizes (fragments held), comma-separated")
	count := flag.Int("count", 5, "runs of each benchmark")
	migrateCount := flag.Int("migrate-count", 1, "runs of the migration and compaction benchmarks (each writes a whole vault first)")
	benchtime := flag.String("benchtime", "1s", "go test -benchtime of each run")
	flag.Parse()
	start := time.Now()
	figs := figures{}
	err := figs.run(*sizes, "^BenchmarkVault(Put|Get|Delete|CommitUnheld|Start|Sweep)$", *benchtime, *count)
	if err == nil {
		err = figs.run(*sizes, "^BenchmarkVault(Migrate|Compact)$", "1x", *migrateCount)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-vault:", err)
		os.Exit(1)
	}
	figs.print(os.Stdout, strings.Split(*sizes, ","), *count, *migrateCount)
	fmt.Printf("\n%s, load average %s\n", time.Since(start).Round(time.Second), benchkit.LoadAvg())
}

// figures are the values of each metric of each benchmark, one per run:
// figures["Start/new/n=10000"]["ns/op"].
type figures map[string]map[string][]float64

// A result line: "BenchmarkVaultGet/new/n=10000-2   45961   23678 ns/op   17927 p50-ns".
var resultLine = regexp.MustCompile(`^BenchmarkVault(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// run runs go test once with -count runs, passing its output through to stderr.
func (f figures) run(sizes, pattern, benchtime string, count int) error {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime,
		"-count", strconv.Itoa(count), "-timeout", "0", "./proxy")
	cmd.Env = append(os.Environ(), "RREC_VAULT_BENCH_SIZES="+sizes)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(io.TeeReader(out, os.Stderr))
	for sc.Scan() {
		m := resultLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		fields := strings.Fields(m[2])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			if f[m[1]] == nil {
				f[m[1]] = map[string][]float64{}
			}
			f[m[1]][fields[i+1]] = append(f[m[1]][fields[i+1]], v)
		}
	}
	return cmd.Wait()
}

func (f figures) median(bench, metric string) (float64, bool) {
	vs := f[bench][metric]
	return benchkit.Median(vs), len(vs) > 0
}

// rows: what each table row shows, from which benchmark and metric, scaled to its unit.
var rows = []struct {
	name, bench, metric, unit string
	scale                     float64
	higherBetter              bool
}{
	{"deposit (Put, synced)", "Put", "puts/s", "/s", 1, true},
	{"Get p50, past the cache", "Get", "p50-ns", "µs", 1e-3, false},
	{"deletion at a commit of 100", "Delete", "deletes/s", "/s", 1, true},
	{"a commit ending 1000 not held", "CommitUnheld", "ns/op", "µs", 1e-3, false},
	{"start: open + reconcile", "Start", "ns/op", "ms", 1e-6, false},
	{"background sweep, unpaced", "Sweep", "ns/op", "s", 1e-9, false},
	{"migration: copy, before serving", "Migrate", "ns/op", "s", 1e-9, false},
	{"migration: removal, in background", "Migrate", "removal-s", "s", 1, false},
	{"compaction, 1% deleted", "Compact", "ns/op", "s", 1e-9, false},
}

func (f figures) print(w io.Writer, sizes []string, count, migrateCount int) {
	fmt.Fprintf(w, "proxy vault: goleveldb database (new) against one file per grant (old); medians of %d runs (migration and compaction: %d)\n\n", count, migrateCount)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tfragments\tnew\told\tnew vs old\t")
	for _, r := range rows {
		for _, n := range sizes {
			n = strings.TrimSpace(n)
			nv, okNew := f.median(r.bench+"/new/n="+n, r.metric)
			ov, okOld := f.median(r.bench+"/old/n="+n, r.metric)
			if !okNew && !okOld {
				continue
			}
			cell := func(v float64, ok bool) string {
				if !ok {
					return "-"
				}
				if v *= r.scale; v >= 1000 {
					return fmt.Sprintf("%.0f %s", v, r.unit)
				}
				return fmt.Sprintf("%.3g %s", v, r.unit)
			}
			ratio := "-"
			if okNew && okOld && nv > 0 && ov > 0 {
				x := ov / nv
				if r.higherBetter {
					x = nv / ov
				}
				ratio = fmt.Sprintf("%.3g× better", x)
				if x < 1 {
					ratio = fmt.Sprintf("%.3g× worse", 1/x)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.name, n, cell(nv, okNew), cell(ov, okOld), ratio)
		}
	}
	tw.Flush()
}
