package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// nodeReport is 'rrec node status': one node as its operator sees it. Pointers are figures
// only a running node gives (nil: unknown).
type nodeReport struct {
	Home    string `json:"home"`
	Node    string `json:"node"`
	ChainID string `json:"chain_id"`
	// State: "running" (its API answers), "stopped", or "not_answering" (a process holds
	// its ledger but its API does not answer: starting, stopping, or hung).
	State   string `json:"state"`
	API     string `json:"api"`
	Metrics string `json:"metrics,omitempty"` // the metrics listener its settings name
	// Health is GET /v1/health's status: ok, catching_up or stale (running only).
	Health     string `json:"health,omitempty"`
	Height     int64  `json:"height"`
	Time       int64  `json:"time"` // block time of Height, unix ns
	AgeMillis  int64  `json:"age_ms"`
	CatchingUp *bool  `json:"catching_up,omitempty"`
	Peers      *int   `json:"peers,omitempty"`
	// VaultFragments: the running node's count (from its metrics), or its vault's, stopped.
	VaultFragments int            `json:"vault_fragments"`
	BlobQueue      *int           `json:"blob_queue,omitempty"`
	ReplicationLag *int           `json:"replication_lag,omitempty"`
	Disk           node.DiskUsage `json:"disk"`
	// CheckTxRefusals and ProxyRefusals count refusals since the node started, by code
	// (the proxy's as route/code).
	CheckTxRefusals map[string]int64 `json:"checktx_refusals,omitempty"`
	ProxyRefusals   map[string]int64 `json:"proxy_refusals,omitempty"`
	Warnings        []string         `json:"warnings,omitempty"`
}

func newNodeStatusCmd() *cobra.Command {
	var (
		home    string
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "status --home DIR [--json]",
		Short: "Summarise a node for its operator: running or not, height, peers, vault, blobs, disk",
		Long: `status tells the operator of the node in DIR how it is doing. It asks the node itself
first, over the addresses its settings (DIR/config/node.json) give, on this machine:

  GET /v1/health on the API          running or not; health, height and block age, peers,
                                     catching up
  GET /v1/status on the API          that the answer is signed by this home's node
  GET /metrics on metrics.listen     vault fragments, blob queue and replication lag,
                                     CheckTx and proxy refusals by code (only when the
                                     settings name a metrics listener: 'rrec node init
                                     --metrics 127.0.0.1:26660', or metrics.listen in
                                     config/node.json; 'rrec devnet' nodes have one)

When the node does not answer it reads the home instead: the last committed height and block
time from the ledger's database (read-only), and the vault's fragments from its count.
Either way it adds up the disk the home's data takes (ledger, chain, vault, blobs), for at
most ten seconds.

It exits 0 when the node runs and is healthy (caught up, last block fresh), and 1 otherwise,
after printing the report.`,
		Example: `  rrec node status --home ./homes/node0
  rrec node status --home ./homes/node0 --json | jq .health`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if home == "" {
				return errors.New("node status needs --home DIR, the home the node runs from")
			}
			r, err := reportNode(cmd.Context(), home)
			if err != nil {
				return err
			}
			if jsonOut {
				if err := writeJSON(cmd.OutOrStdout(), r); err != nil {
					return err
				}
			} else {
				printNodeReport(cmd.OutOrStdout(), r)
			}
			switch {
			case r.State != "running":
				return fmt.Errorf("node %s is %s", r.Node, strings.ReplaceAll(r.State, "_", " "))
			case r.Health != node.HealthOK:
				return fmt.Errorf("node %s runs but is not healthy: %s", r.Node, strings.ReplaceAll(r.Health, "_", " "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "node home `DIR`")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

// reportNode asks the node of home, and reads its home.
func reportNode(ctx context.Context, home string) (*nodeReport, error) {
	s, err := node.ReadSettings(home)
	if err != nil {
		return nil, err
	}
	nw, err := node.NetworkFile(home)
	if err != nil {
		return nil, err
	}
	r := &nodeReport{Home: home, Node: s.Moniker, ChainID: nw.ChainID, API: dialable(s.APIAddr), Metrics: dialable(s.Metrics.Listen)}
	i := slices.IndexFunc(nw.Nodes, func(n protocol.Node) bool { return n.Name == s.Moniker })
	if i < 0 {
		return nil, fmt.Errorf("%s: genesis has no node named %q", home, s.Moniker)
	}
	self := nw.Nodes[i]

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	askCtx, askCancel := context.WithTimeout(ctx, 3*time.Second)
	defer askCancel()
	h, err := fetchHealth(askCtx, r.API)
	if err == nil {
		err = checkIdentity(askCtx, r.API, nw.ChainID, self)
	}
	if err == nil {
		r.State, r.Health = "running", h.Status
		r.Height, r.Time, r.AgeMillis = h.Height, h.Time, h.AgeMillis
		r.CatchingUp, r.Peers = &h.CatchingUp, &h.Peers
		if r.Metrics != "" {
			if err := r.addMetrics(askCtx); err != nil {
				r.Warnings = append(r.Warnings, fmt.Sprintf("metrics at %s: %v", r.Metrics, err))
			}
		}
	} else {
		r.State = "stopped"
		var other *otherNodeError
		if errors.As(err, &other) {
			r.Warnings = append(r.Warnings, err.Error())
		}
	}

	hs, err := node.ReadHomeStatus(ctx, home)
	if err != nil {
		return nil, err
	}
	r.Disk = hs.Disk
	if hs.Disk.Partial {
		r.Warnings = append(r.Warnings, "the disk usage is a lower bound: adding it up took too long")
	}
	if r.State != "running" {
		r.Height, r.Time, r.VaultFragments = hs.Height, hs.Time, hs.VaultFragments
		if hs.Time != 0 {
			r.AgeMillis = time.Since(time.Unix(0, hs.Time)).Milliseconds()
		}
		if hs.Locked {
			r.State = "not_answering"
			r.Warnings = append(r.Warnings, fmt.Sprintf("a process holds the ledger of %s, but nothing answers at %s", home, r.API))
		}
	} else if r.BlobQueue == nil { // no metrics: the running node's vault is locked to others
		r.Warnings = append(r.Warnings, "vault fragments not counted: a running node counts them in its metrics (metrics.listen)")
	}
	return r, nil
}

// dialable is addr as this machine dials it: a listener on every interface answers on loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func fetchHealth(ctx context.Context, api string) (*node.Health, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+api+"/v1/health", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return nil, fmt.Errorf("GET /v1/health: HTTP %d", resp.StatusCode)
	}
	var h node.Health
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&h); err != nil {
		return nil, fmt.Errorf("GET /v1/health: %w", err)
	}
	return &h, nil
}

// otherNodeError: what answers at the home's API address is not the home's node.
type otherNodeError struct{ api, why string }

func (e *otherNodeError) Error() string {
	return fmt.Sprintf("the API at %s is not this home's node: %s", e.api, e.why)
}

// checkIdentity makes sure the API answering is this home's node (another process may have
// the port), by the signature on its status.
func checkIdentity(ctx context.Context, api, chainID string, self protocol.Node) error {
	st, err := (&client.API{}).NodeStatus(ctx, "http://"+api)
	switch {
	case err != nil:
		return err
	case st.ChainID != chainID:
		return &otherNodeError{api, fmt.Sprintf("it serves chain %q", st.ChainID)}
	case st.ProxyKey != self.ProxyKey || !st.Verify():
		return &otherNodeError{api, "its status is not signed with this node's proxy key"}
	}
	return nil
}

// addMetrics reads what only the metrics tell.
func (r *nodeReport) addMetrics(ctx context.Context) error {
	m, err := node.ScrapeMetrics(ctx, nil, r.Metrics)
	if err != nil {
		return err
	}
	queue, lag := int(m.Sum("rrec_blobs_queue_length")), int(m.Sum("rrec_blobs_replication_lag_records"))
	r.VaultFragments, r.BlobQueue, r.ReplicationLag = int(m.Sum("rrec_proxy_vault_fragments")), &queue, &lag
	r.CheckTxRefusals = counts(m.By("rrec_ledger_checktx_refusals_total", "code"))
	r.ProxyRefusals = map[string]int64{}
	for _, route := range []string{"deposit", "reencrypt"} {
		for code, v := range m.By("rrec_proxy_refusals_total", "code", "route", route) {
			r.ProxyRefusals[route+"/"+code] = int64(v)
		}
	}
	return nil
}

func counts(m map[string]float64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		out[k] = int64(v)
	}
	return out
}

func printNodeReport(w io.Writer, r *nodeReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	line("node", "%s", r.Node)
	line("chain", "%s", r.ChainID)
	line("state", "%s", strings.ReplaceAll(r.State, "_", " "))
	line("api", "%s", r.API)
	if r.Metrics != "" {
		line("metrics", "%s", r.Metrics)
	} else {
		line("metrics", "off (metrics.listen in config/node.json)")
	}
	if r.Health != "" {
		line("health", "%s", strings.ReplaceAll(r.Health, "_", " "))
	}
	source := ""
	if r.State != "running" {
		source = ", from the home"
	}
	if r.Time != 0 {
		line("height", "%d%s", r.Height, source)
		line("last block", "%s (%s ago)", when(r.Time), (time.Duration(r.AgeMillis) * time.Millisecond).Round(100*time.Millisecond))
	} else {
		line("height", "unknown")
	}
	if r.CatchingUp != nil {
		line("catching up", "%s", map[bool]string{true: "yes", false: "no"}[*r.CatchingUp])
	}
	if r.Peers != nil {
		line("peers", "%d", *r.Peers)
	}
	line("vault", "%d fragments", r.VaultFragments)
	if r.BlobQueue != nil {
		line("blob queue", "%d waiting, %d records not yet held", *r.BlobQueue, *r.ReplicationLag)
	}
	d := r.Disk
	line("disk", "%s: ledger %s, chain %s, vault %s, blobs %s, snapshots %s", size(d.Total), size(d.Ledger), size(d.Chain), size(d.Vault), size(d.Blobs), size(d.Snapshots))
	if r.CheckTxRefusals != nil {
		line("refused", "checktx %s; proxy %s", tally(r.CheckTxRefusals), tally(r.ProxyRefusals))
	}
	for _, warn := range r.Warnings {
		line("warning", "%s", warn)
	}
	tw.Flush()
}

// tally is "N (code n, code n…)", most frequent first.
func tally(m map[string]int64) string {
	var total int64
	keys := make([]string, 0, len(m))
	for k, v := range m {
		total += v
		keys = append(keys, k)
	}
	if total == 0 {
		return "0"
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return int(m[b] - m[a])
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}
