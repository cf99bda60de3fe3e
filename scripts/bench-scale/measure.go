package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net/http"
	"path/filepath"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/envelope"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/scripts/internal/benchkit"
)

// sdkRuns is how many SDK grants and accesses each stop times.
const sdkRuns = 9

type measurer struct {
	nw      *node.LocalNet
	l       *loader
	samples int
	http    *http.Client

	owner, reader *client.Session
	record        protocol.ID
	last          node.Scraped // node 0's metrics at the previous stop
}

func (m *measurer) start(ctx context.Context) error {
	m.http = &http.Client{Timeout: 30 * time.Second, Transport: benchkit.From(http.DefaultTransport, 1<<20)}
	desc, err := m.nw.Description()
	if err != nil {
		return err
	}
	session := func(i int) (*client.Session, error) {
		id, err := identity.Generate()
		if err != nil {
			return nil, err
		}
		return client.New(desc, id, &client.Options{HTTP: &http.Client{Transport: benchkit.From(http.DefaultTransport, 1<<20+i)}})
	}
	if m.owner, err = session(1); err != nil {
		return err
	}
	if m.reader, err = session(2); err != nil {
		return err
	}
	data := make([]byte, 64<<10)
	rand.Read(data)
	if m.record, err = m.owner.Put(ctx, bytes.NewReader(data), int64(len(data)), envelope.Metadata{Name: "probe.bin"}); err != nil {
		return fmt.Errorf("sdk put: %w", err)
	}
	m.last, err = m.scrape(ctx, 0)
	return err
}

// settle waits until the network has digested the load: every node has stored and reported
// every blob it should (replication lag 0) and no transaction committed for two seconds, so
// the figures are of a loaded network, not of one still loading.
func (m *measurer) settle(ctx context.Context) time.Duration {
	start := time.Now()
	var last float64
	for time.Since(start) < 10*time.Minute {
		lag, txs := 0.0, 0.0
		for i := range m.nw.Size() {
			s, err := m.scrape(ctx, i)
			if err != nil {
				continue
			}
			lag += s.Sum("rrec_blobs_replication_lag_records")
			if i == 0 {
				txs = s.Sum("rrec_ledger_txs_total")
			}
		}
		if lag == 0 && txs == last {
			break
		}
		last = txs
		time.Sleep(2 * time.Second)
	}
	return time.Since(start)
}

func (m *measurer) measure(ctx context.Context) error {
	fmt.Printf("settled (replication done, no transactions for 2 s) in %v\n", m.settle(ctx).Round(time.Second))
	records := float64(m.l.records())
	home := m.nw.Homes()[0]
	ledger, blocks := dirSize(filepath.Join(home, "data", "ledger")), dirSize(filepath.Join(home, "data", "blockstore.db"))
	fmt.Printf("node 0 on disk: ledger state %s (%.0f B per record with its grant, requests and audit entries), block store %s (%.0f B per record), tx index %s, CometBFT state %s, vault %s, blobs %s\n",
		mib(ledger), float64(ledger)/records, mib(blocks), float64(blocks)/records,
		mib(dirSize(filepath.Join(home, "data", "tx_index.db"))), mib(dirSize(filepath.Join(home, "data", "state.db"))),
		mib(dirSize(filepath.Join(home, "data", "vault"))), mib(dirSize(filepath.Join(home, "data", "blobs"))))

	if err := m.queries(ctx); err != nil {
		return err
	}
	now, err := m.scrape(ctx, 0)
	if err != nil {
		return err
	}
	txs := now.Sum("rrec_ledger_txs_total") - m.last.Sum("rrec_ledger_txs_total")
	fin, blocksN := delta(now, m.last, "rrec_ledger_finalize_block_seconds")
	com, _ := delta(now, m.last, "rrec_ledger_commit_seconds")
	chk, checks := delta(now, m.last, "rrec_ledger_checktx_seconds", "kind", "new")
	m.last = now
	if txs > 0 && checks > 0 {
		fmt.Printf("ledger at node 0 since the last stop: %.0f txs in %d blocks; FinalizeBlock %.1f µs/tx, Commit %.1f µs/tx, CheckTx (new) %.1f µs/tx\n",
			txs, blocksN, fin/txs*1e6, com/txs*1e6, chk/float64(checks)*1e6)
	}

	var grantT, getT []time.Duration
	for range sdkRuns {
		t := time.Now()
		g, err := m.owner.Grant(ctx, m.record, m.reader.Identity(), client.GrantOptions{Duration: time.Hour, Purpose: "TREAT"})
		if err != nil {
			return fmt.Errorf("sdk grant: %w", err)
		}
		grantT = append(grantT, time.Since(t))
		t = time.Now()
		if _, err := m.reader.Get(ctx, m.record, io.Discard, client.GetOptions{Purpose: "TREAT"}); err != nil {
			return fmt.Errorf("sdk get: %w", err)
		}
		getT = append(getT, time.Since(t))
		if _, err := m.owner.Revoke(ctx, g.Grant); err != nil {
			return fmt.Errorf("sdk revoke: %w", err)
		}
	}
	fmt.Printf("SDK on the loaded network: grant p50 %v, access (get of 64 KiB) p50 %v (%d each)\n",
		benchkit.Median(grantT).Round(100*time.Microsecond), benchkit.Median(getT).Round(100*time.Microsecond), sdkRuns)
	return m.restart(ctx)
}

// queries times the ledger's list queries at node 0's API at random places in the lists.
func (m *measurer) queries(ctx context.Context) error {
	api := m.nw.Node(0).Settings().APIAddr
	kinds := []struct {
		name string
		path func() string
	}{
		{"records/owner", func() string {
			p := m.l.pairs[mrand.IntN(len(m.l.pairs))]
			return fmt.Sprintf("/records/owner/%s?start=%d&limit=50", p.owner.PK, mrand.IntN(max(1, len(p.recs))))
		}},
		{"audit/<record>", func() string {
			p := m.l.pairs[mrand.IntN(len(m.l.pairs))]
			return fmt.Sprintf("/audit/%s?limit=50", p.recs[mrand.IntN(len(p.recs))])
		}},
		{"grants/recipient", func() string {
			p := m.l.pairs[mrand.IntN(len(m.l.pairs))]
			return fmt.Sprintf("/grants/recipient/%s?start=%d&limit=50", p.reader.PK, mrand.IntN(max(1, len(p.grants))))
		}},
	}
	for _, k := range kinds {
		var ds []time.Duration
		for range m.samples {
			t := time.Now()
			if err := m.get(ctx, "http://"+api+"/v1/query"+k.path()); err != nil {
				return fmt.Errorf("query %s: %w", k.name, err)
			}
			ds = append(ds, time.Since(t))
		}
		fmt.Printf("query %-17s p50 %v  p99 %v  (%d, 50 items a page)\n", k.name,
			benchkit.Median(ds).Round(10*time.Microsecond), benchkit.Percentile(ds, 0.99).Round(10*time.Microsecond), m.samples)
	}
	return nil
}

func (m *measurer) get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// restart stops node 3 and starts it again from its disk, timing until it serves its
// health route and has caught up with the height the others had when it came back.
func (m *measurer) restart(ctx context.Context) error {
	const i = 3
	if err := m.nw.StopNode(i); err != nil {
		return err
	}
	target := m.nw.Node(0).Height()
	t := time.Now()
	if err := m.nw.RestartNode(i); err != nil {
		return err
	}
	started := time.Since(t)
	health := "http://" + m.nw.Node(i).Settings().APIAddr + "/v1/health"
	for m.get(ctx, health) != nil || m.nw.Node(i).Height() < target {
		if time.Since(t) > 5*time.Minute {
			return fmt.Errorf("node %d did not catch up within 5 minutes", i)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("node %d restart: started in %v, serving at the network's height in %v\n", i,
		started.Round(time.Millisecond), time.Since(t).Round(time.Millisecond))
	return nil
}

func (m *measurer) scrape(ctx context.Context, i int) (node.Scraped, error) {
	return node.ScrapeMetrics(ctx, m.http, m.nw.Node(i).MetricsAddr())
}

func delta(now, then node.Scraped, name string, labels ...string) (float64, uint64) {
	a, n := now.Observed(name, labels...)
	b, k := then.Observed(name, labels...)
	return a - b, n - k
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
