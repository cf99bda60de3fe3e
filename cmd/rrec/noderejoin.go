package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/node"
)

func newNodeRejoinCmd() *cobra.Command {
	var (
		home, servers    string
		replay, keep, ok bool
	)
	cmd := &cobra.Command{
		Use:   "rejoin --home DIR --rpc-servers URL,URL [--replay] [--keep-blobs] [--yes]",
		Short: "Bring back a node that lost its data, or move a node to a new machine",
		Long: `rejoin prepares a node home whose data is gone — a wiped disk, or a new machine given the
node's config directory (its keys, settings and genesis) — to catch up with the network by
state sync: it restores a recent snapshot of the ledger state from the other nodes, proven by
the app hash their signed headers carry, instead of replaying every block since genesis.

It asks the CometBFT RPC servers of at least two other nodes (their rpc_listen) for a block
to trust, checks that they agree on it and that the genesis validators signed it, and writes
it to config/node.json as state_sync. It raises the node's last-signed height to the
network's height, so that the node never signs at a height its earlier self may have signed
at: make sure that earlier self is stopped for good. Then it deletes what is left under
DIR/data (ledger state, chain, vault, snapshots and, unless --keep-blobs, blobs; the
last-signed state stays). Start the node with 'rrec node start' afterwards.

The node comes back with an empty vault: key fragments never leave a node, so the grants it
held a fragment of go on with one holder fewer (docs/operations.md). --replay replays every
block from genesis instead, from peers that kept them all. The node must be stopped; a home
that still holds ledger state needs --yes.`,
		Example: `  rrec node rejoin --home ./homes/node1 --rpc-servers http://10.0.0.1:26657,http://10.0.0.3:26657
  rrec node start --home ./homes/node1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if home == "" || servers == "" {
				return errors.New("node rejoin needs --home DIR and --rpc-servers with the CometBFT RPC addresses of two other nodes")
			}
			var list []string
			for _, s := range strings.Split(servers, ",") {
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
			if len(list) < 2 && !replay {
				return errors.New("--rpc-servers: state sync needs the RPC servers of at least two other nodes")
			}
			if _, err := os.Stat(filepath.Join(home, "data", "ledger")); err == nil && !ok {
				return fmt.Errorf("%s still holds ledger state; rejoin deletes it: run again with --yes", home)
			}
			// The servers first: a home is wiped only once they gave a block to trust.
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			plan, err := node.PrepareRejoin(ctx, home, list, replay)
			if err != nil {
				return err
			}
			if err := node.WipeData(home, keep); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if replay {
				fmt.Fprintf(out, "replaying from genesis; the network is at height %d\n", plan.Latest)
			} else {
				fmt.Fprintf(out, "state sync from %s\ntrusted block %d %s (the servers agree; the genesis validators signed it)\nnetwork height %d\n",
					strings.Join(plan.StateSync.RPCServers, ", "), plan.StateSync.TrustHeight, plan.StateSync.TrustHash, plan.Latest)
			}
			fmt.Fprintf(out, "start it with 'rrec node start --home %s'\n", home)
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "node home `DIR` whose data is lost")
	cmd.Flags().StringVar(&servers, "rpc-servers", "", "comma-separated CometBFT RPC `URLS` of two or more other nodes")
	cmd.Flags().BoolVar(&replay, "replay", false, "replay every block from genesis instead of state sync")
	cmd.Flags().BoolVar(&keep, "keep-blobs", false, "keep the embedded blob store (blobs are checked when read, and fetched again when missing)")
	cmd.Flags().BoolVar(&ok, "yes", false, "delete the ledger state the home still holds")
	return cmd
}
