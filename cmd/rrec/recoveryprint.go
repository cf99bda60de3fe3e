package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/contacts"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/umbral"
)

// What the recovery commands show, and how they read people and processes.

func printRecovery(w io.Writer, book *contacts.Book, st *client.RecoveryStatus) {
	if st.Setup == nil {
		fmt.Fprintln(w, "no recovery setup")
	} else {
		var names []string
		for _, g := range st.Setup.Guardians {
			names = append(names, person(book, g.Signing, publicString(g.Signing, g.Receiving)))
		}
		fmt.Fprintf(w, "guardians    %s\nthreshold    %d of %d\nwaiting      %s after the last needed approval\nset up       %s, height %d\n",
			strings.Join(names, ", "), st.Setup.Threshold(), len(names), time.Duration(st.Setup.Delay), when(st.Setup.Time), st.Setup.Height)
	}
	if len(st.Processes) == 0 {
		fmt.Fprintln(w, "no recovery process")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROCESS\tDEVICE\tSTARTED\tAPPROVED BY\tSTATE")
	for _, p := range st.Processes {
		var by []string
		for _, a := range p.Approvals {
			if st.Setup != nil && st.Setup.Grant == p.Grant && a.Guardian < len(st.Setup.Guardians) {
				g := st.Setup.Guardians[a.Guardian]
				by = append(by, person(book, g.Signing, publicString(g.Signing, g.Receiving)))
			} else {
				by = append(by, fmt.Sprintf("guardian %d", a.Guardian+1))
			}
		}
		if len(by) == 0 {
			by = []string{"-"}
		}
		state := client.PhaseOf(st.Setup, p, st.Time).String()
		switch client.PhaseOf(st.Setup, p, st.Time) {
		case client.Waiting:
			state += " until " + when(p.Ready)
		case client.Finished:
			state += " at height " + fmt.Sprint(p.EndedHeight)
		case client.Cancelled:
			state += " at height " + fmt.Sprint(p.EndedHeight)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ID, person(book, p.Device, p.Device.String()), when(p.Time), strings.Join(by, ", "), state)
	}
	tw.Flush()
}

// publicString is the rrec1... identity of a signing and a receiving key (the signing key's
// hex if they are not keys).
func publicString(signing, receiving protocol.PubKey) string {
	s, err1 := umbral.PublicKeyFromBytes(signing[:])
	r, err2 := umbral.PublicKeyFromBytes(receiving[:])
	if err1 != nil || err2 != nil {
		return signing.String()
	}
	return identity.Public{Signing: s, Receiving: r}.String()
}

// resolvePerson reads an rrec1... identity, or a name from the contacts book.
func resolvePerson(who, flag string) (identity.Public, error) {
	if strings.TrimSpace(who) == "" {
		return identity.Public{}, fmt.Errorf("%s needs an rrec1... identity or a contact name", flag)
	}
	var book *contacts.Book
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(who)), identity.PublicPrefix) {
		var err error
		if book, err = openContacts(); err != nil {
			return identity.Public{}, err
		}
	}
	pub, err := book.Resolve(who)
	if err != nil {
		return identity.Public{}, fmt.Errorf("%s: %w (add them with 'rrec contacts add NAME IDENTITY', or give the rrec1... string 'rrec pubkey' prints)", flag, err)
	}
	return pub, nil
}

func resolvePeople(list []string) ([]identity.Public, error) {
	if len(list) == 0 {
		return nil, errors.New("setup needs --guardians A,B,C: rrec1... identities or contact names")
	}
	out := make([]identity.Public, 0, len(list))
	for _, who := range list {
		pub, err := resolvePerson(who, "--guardians")
		if err != nil {
			return nil, err
		}
		out = append(out, pub)
	}
	return out, nil
}

func parseProcess(s string) (protocol.Hash32, error) {
	var h protocol.Hash32
	if err := h.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return h, fmt.Errorf("process %q: want the 64 hex digits 'rrec recovery start' printed", s)
	}
	return h, nil
}

// explainRecovery says what a refusal of a recovery step means.
func explainRecovery(err error) error {
	switch {
	case errors.Is(err, client.ErrNotYetValid):
		return fmt.Errorf("not yet: too few guardians have approved, or the waiting period is still running ('rrec recovery status --owner …' shows which; --wait waits) (%w)", err)
	case errors.Is(err, client.ErrRevoked):
		return fmt.Errorf("this recovery is over: the owner cancelled it, or set up recovery anew since (%w)", err)
	case errors.Is(err, client.ErrExpired):
		return fmt.Errorf("this recovery lapsed: start a new one (%w)", err)
	case errors.Is(err, client.ErrNotFound):
		return fmt.Errorf("no such recovery process or setup on this network (%w)", err)
	case errors.Is(err, client.ErrUnauthorized):
		return fmt.Errorf("not allowed: %w", err)
	}
	return explain(err, "record")
}
