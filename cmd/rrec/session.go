package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	network  string
	identity string
}

func (f *clientFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.network, "network", "", "network description `FILE` (default $RREC_NETWORK; 'rrec devnet' writes DIR/network.json)")
	addIdentityFlag(cmd, &f.identity)
}

// open loads the identity and the network and opens a session. The context ends on SIGINT
// or SIGTERM so that an interrupted transfer removes its temporary files.
func (f *clientFlags) open(cmd *cobra.Command) (context.Context, *client.Session, func(), error) {
	id, err := loadIdentity(f.identity)
	if err != nil {
		return nil, nil, nil, err
	}
	path := f.network
	if path == "" {
		path = os.Getenv("RREC_NETWORK")
	}
	if path == "" {
		return nil, nil, nil, errors.New("no network: pass --network FILE or set RREC_NETWORK (a local network: 'rrec devnet --dir DIR' writes DIR/network.json)")
	}
	nw, err := protocol.LoadNetwork(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("network %s: %w", path, err)
	}
	s, err := client.New(nw, id, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	done := func() {
		stop()
		warnLies(cmd.ErrOrStderr(), s.Lies())
	}
	return ctx, s, done, nil
}

// warnLies tells the user which nodes the session caught lying: the command got the truth
// from the others (or failed), and the operators of those nodes should hear of it.
func warnLies(w io.Writer, lies []client.Lie) {
	for _, l := range lies {
		fmt.Fprintf(w, "rrec: warning: %v\n", l)
	}
}

// withID opens a session and runs do for the record or grant id in arg: the shape of every
// command that acts on one id.
func (cf *clientFlags) withID(cmd *cobra.Command, what, arg string, do func(context.Context, *client.Session, protocol.ID) error) error {
	id, err := parseID(what, arg)
	if err != nil {
		return err
	}
	ctx, s, stop, err := cf.open(cmd)
	if err != nil {
		return err
	}
	defer stop()
	return do(ctx, s, id)
}

// parseID reads a record id (what = "record", as put prints it) or a grant id (what =
// "grant", as grant prints it).
func parseID(what, s string) (protocol.ID, error) {
	var id protocol.ID
	if err := id.UnmarshalText([]byte(s)); err != nil {
		printer := "put"
		if what == "grant" {
			printer = "grant"
		}
		return id, fmt.Errorf("%s %q: want the 64 hex digits 'rrec %s' printed", what, s, printer)
	}
	return id, nil
}

// explain turns the SDK's errors into messages that say what happened and what to do.
func explain(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrRevoked):
		return fmt.Errorf("access refused: the owner revoked the grant for this record (%w)", err)
	case errors.Is(err, client.ErrExpired):
		return fmt.Errorf("access refused: the grant for this record has expired (%w)", err)
	case errors.Is(err, client.ErrNotYetValid):
		return fmt.Errorf("access refused: the grant for this record is not valid yet (%w)", err)
	case errors.Is(err, client.ErrNotGranted):
		return fmt.Errorf("access refused: this record is not granted to you (%w)", err)
	case errors.Is(err, client.ErrErased):
		return fmt.Errorf("the owner erased this record; its ciphertext is gone (%w)", err)
	case errors.Is(err, client.ErrNotFound):
		return fmt.Errorf("no such %s on this network (%w)", what, err)
	case errors.Is(err, client.ErrUnauthorized):
		return fmt.Errorf("not allowed: only the record's owner, or a caregiver it delegated that right to, can do this (%w)", err)
	case errors.Is(err, client.ErrUnavailable):
		return fmt.Errorf("not enough nodes answered: is the network running? (%w)", err)
	case errors.Is(err, client.ErrNoQuorum):
		return fmt.Errorf("the nodes do not agree, and fewer than f+1 of them gave the same answer: nothing was believed (%w)", err)
	case errors.Is(err, protocol.ErrKeyRetired):
		return fmt.Errorf("refused: this identity's key was retired by 'rrec rotate'; use the identity that succeeded it ('rrec account' names it) (%w)", err)
	}
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
