package fhir_test

import (
	"fmt"

	"github.com/resilientrecords/resilientrecords/fhir"
)

func ExampleParsePurpose() {
	for _, s := range []string{"etreat", "treatment", "second opinion"} {
		p := fhir.ParsePurpose(s)
		fmt.Printf("%q: code %q, display %q, on the ledger %q\n", s, p.Code, p.Display, p.String())
	}
	// Output:
	// "etreat": code "ETREAT", display "Emergency Treatment", on the ledger "ETREAT"
	// "treatment": code "TREAT", display "treatment", on the ledger "TREAT"
	// "second opinion": code "", display "second opinion", on the ledger "second opinion"
}
