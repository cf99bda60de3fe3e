package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/fhir"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// printConsents prints a record's grants as a FHIR R4 Bundle of Consents, their status as
// of the block time at.
func printConsents(ctx context.Context, w io.Writer, s *client.Session, id protocol.ID, gs []*protocol.GrantState, at time.Time) error {
	rec, err := s.Record(ctx, id)
	if err != nil {
		return explain(err, "record")
	}
	var resources [][]byte
	for _, g := range gs {
		c, err := fhir.Consent(s.Network(), rec, g, at)
		if err != nil {
			return err
		}
		resources = append(resources, c)
	}
	return printBundle(w, resources)
}

// printAuditEvents prints a record's audit log as a FHIR R4 Bundle of AuditEvents.
func printAuditEvents(ctx context.Context, w io.Writer, s *client.Session, id protocol.ID, log []protocol.AuditEntry) error {
	rec, err := s.Record(ctx, id)
	if err != nil {
		return explain(err, "record")
	}
	events, err := fhir.AuditEvents(s.Network(), rec, log)
	if err != nil {
		return err
	}
	return printBundle(w, events)
}

func printBundle(w io.Writer, resources [][]byte) error {
	b, err := fhir.Bundle(fhir.Collection, resources)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// readConsent reads a FHIR Consent to grant from, bounded as the fhir package bounds it.
func readConsent(path string) (*fhir.GrantRequest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, fhir.MaxConsentSize+1))
	if err != nil {
		return nil, err
	}
	req, err := fhir.ImportConsent(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return req, nil
}
