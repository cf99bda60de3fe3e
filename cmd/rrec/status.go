package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// nodeStatus is one line of 'rrec status'.
type nodeStatus struct {
	Name   string           `json:"name"`
	API    string           `json:"api"`
	Status *protocol.Status `json:"status,omitempty"`
	Error  string           `json:"error,omitempty"`
}

func newStatusCmd() *cobra.Command {
	var (
		network string
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "Show whether each node of the network answers, and its latest block",
		Long: `status asks every node named in the network description for its status: chain id, latest
committed height and block time. It needs no identity. It exits non-zero if a node does not
answer or names another chain.`,
		Example: `  rrec status --network /tmp/rrnet/network.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if network == "" {
				network = os.Getenv("RREC_NETWORK")
			}
			if network == "" {
				return errors.New("no network: pass --network FILE or set RREC_NETWORK")
			}
			nw, err := protocol.LoadNetwork(network)
			if err != nil {
				return fmt.Errorf("network %s: %w", network, err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			out := make([]nodeStatus, len(nw.Nodes))
			var wg sync.WaitGroup
			for i, n := range nw.Nodes {
				wg.Go(func() {
					out[i] = nodeStatus{Name: n.Name, API: n.API}
					st, err := (&client.API{}).NodeStatus(ctx, n.URL())
					switch {
					case err != nil:
						out[i].Error = err.Error()
					case st.ChainID != nw.ChainID:
						out[i].Error = fmt.Sprintf("serves chain %q, not %q", st.ChainID, nw.ChainID)
					case st.ProxyKey != n.ProxyKey || !st.Verify():
						out[i].Error = "answers without the signature of the key network.json gives it"
					default:
						out[i].Status = st
					}
				})
			}
			wg.Wait()
			down := 0
			for _, s := range out {
				if s.Error != "" {
					down++
				}
			}
			if jsonOut {
				if err := writeJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			} else {
				printStatus(cmd.OutOrStdout(), nw.ChainID, out)
			}
			if down > 0 {
				return fmt.Errorf("%d of %d nodes are not serving chain %s", down, len(out), nw.ChainID)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&network, "network", "", "network description `FILE` (default $RREC_NETWORK)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func printStatus(w io.Writer, chainID string, nodes []nodeStatus) {
	fmt.Fprintf(w, "chain %s\n", chainID)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tAPI\tHEIGHT\tBLOCK TIME\tSTATE")
	for _, n := range nodes {
		if n.Status == nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\tdown: %s\n", n.Name, n.API, n.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\tup\n", n.Name, n.API, n.Status.Height, when(n.Status.Time))
	}
	tw.Flush()
}
