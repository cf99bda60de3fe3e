// Command bench-stream measures streams on a 4-validator network in this process, through
// the SDK: how many entries a second one device appends, batched, and how long reading a
// day of 1 Hz points (86 400 entries) through a grant takes. It prints medians of -runs; it
// asserts nothing.
//
//	go run ./scripts/bench-stream [-runs 3] [-batch 600] [-epoch 10m] [-parallel 8]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/scripts/internal/benchkit"
	"github.com/resilientrecords/resilientrecords/stream"
)

func main() {
	runs := flag.Int("runs", 3, "days appended and read; the figures are their medians")
	batch := flag.Int("batch", 600, "entries per Append call (600: one 10-minute epoch of 1 Hz points)")
	epoch := flag.Duration("epoch", 10*time.Minute, "the streams' epoch length")
	parallel := flag.Int("parallel", 8, "epochs a reader reads at once")
	flag.Parse()
	if err := run(*runs, *batch, *epoch, *parallel); err != nil {
		fmt.Fprintln(os.Stderr, "bench-stream:", err)
		os.Exit(1)
	}
}

// day0 is the first day appended; run i appends day0 + i days.
var day0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// dayOfPoints is a phone's day of location points, one a second, as JSON lines.
func dayOfPoints(day time.Time) []stream.Entry {
	out := make([]stream.Entry, 86400)
	for i := range out {
		t := day.Add(time.Duration(i) * time.Second)
		out[i] = stream.Entry{Time: t.UnixNano(), Data: fmt.Appendf(nil, `{"time":%q,"lat":%.6f,"lon":%.6f}`,
			t.Format(time.RFC3339), 52.37+float64(i%600)*1e-5, 4.89+float64(i/600)*1e-5)}
	}
	return out
}

func run(runs, batch int, epoch time.Duration, parallel int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-stream-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.DiscardHandler)
	nw, err := node.StartLocalNet(ctx, dir, node.LocalNetOptions{Logger: quiet, API: benchkit.LoopbackAPI})
	if err != nil {
		return err
	}
	defer nw.Stop()
	desc, err := nw.Description()
	if err != nil {
		return err
	}
	owner, err := session(desc, dir)
	if err != nil {
		return err
	}
	reader, err := session(desc, dir)
	if err != nil {
		return err
	}
	fmt.Printf("GOMAXPROCS %d, 4 validators in-process, open network; a day of 1 Hz points (86 400 entries of ~60 bytes) a run, "+
		"%d entries an Append, %s epochs, %d epochs read at once; load %s\n", runtime.GOMAXPROCS(0), batch, epoch, parallel, benchkit.LoadAvg())
	var rates, appendP50, reads, ownerReads []float64
	for r := range runs {
		st, err := owner.CreateStream(ctx, fmt.Sprintf("location %d", r), epoch)
		if err != nil {
			return err
		}
		day := day0.AddDate(0, 0, r)
		points := dayOfPoints(day)
		var lat []float64
		start := time.Now()
		for i := 0; i < len(points); i += batch {
			t := time.Now()
			if _, err := owner.Append(ctx, st, points[i:min(i+batch, len(points))]); err != nil {
				return fmt.Errorf("append: %w", err)
			}
			lat = append(lat, float64(time.Since(t).Milliseconds()))
		}
		took := time.Since(start)
		rates = append(rates, float64(len(points))/took.Seconds())
		appendP50 = append(appendP50, benchkit.Median(lat))

		g, err := owner.GrantStream(ctx, st.ID(), reader.Identity(), client.StreamGrantOptions{From: day, Until: day.AddDate(0, 0, 1)})
		if err != nil {
			return err
		}
		t := time.Now()
		got, err := reader.ReadStream(ctx, g.Grant, day, day.AddDate(0, 0, 1), client.ReadOptions{Parallel: parallel})
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		readTook := time.Since(t)
		if len(got.Entries) != len(points) {
			return fmt.Errorf("read %d entries, appended %d", len(got.Entries), len(points))
		}
		reads = append(reads, readTook.Seconds())
		t = time.Now()
		if got, err = owner.ReadStream(ctx, st.ID(), day, day.AddDate(0, 0, 1), client.ReadOptions{Parallel: parallel}); err != nil || len(got.Entries) != len(points) {
			return fmt.Errorf("owner's read: %v", err)
		}
		ownerReads = append(ownerReads, time.Since(t).Seconds())
		fmt.Printf("run %d: appended %d entries in %d chunks in %v (%.0f entries/s, an Append p50 %.0f ms); "+
			"the recipient read the day in %v (%d epochs), the owner in %v; load %s\n",
			r+1, len(points), st.State().Chunks, took.Round(time.Millisecond), rates[r], appendP50[r],
			readTook.Round(time.Millisecond), got.Epochs, (time.Duration(ownerReads[r] * 1e9)).Round(time.Millisecond), benchkit.LoadAvg())
	}
	fmt.Printf("\nmedians of %d runs: appends %.0f entries/s from one device (goal ≥ 100), an Append of %d entries %.0f ms; "+
		"a day of 1 Hz points read through a grant in %.2f s (goal ≤ 2 s), by the owner in %.2f s\n",
		runs, benchkit.Median(rates), batch, benchkit.Median(appendP50), benchkit.Median(reads), benchkit.Median(ownerReads))
	return nil
}

func session(nw *protocol.Network, dir string) (*client.Session, error) {
	id, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	return client.New(nw, id, &client.Options{TempDir: dir})
}
