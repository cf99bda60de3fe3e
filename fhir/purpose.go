package fhir

import "strings"

// PurposeSystem is the code system of HL7 v3 PurposeOfUse codes (a part of v3 ActReason).
const PurposeSystem = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

// Purpose is why a grant is made or a record is read: a v3 PurposeOfUse code with its
// official display name, or free text when no code fits (Code is then empty and Display
// holds the text). The zero Purpose is no purpose at all.
type Purpose struct {
	Code    string
	Display string
}

// purposes is the PurposeOfUse branch of v3 ActReason, with the official display names of
// the version FHIR R4 ships (CodeSystem v3-ActReason 2018-08-12, in the npm package
// hl7.fhir.r4.examples 4.0.1), in its order: the six codes people use most come first.
var purposes = []Purpose{
	{"TREAT", "treatment"},
	{"ETREAT", "Emergency Treatment"},
	{"HPAYMT", "healthcare payment"},
	{"HOPERAT", "healthcare operations"},
	{"HRESCH", "healthcare research"},
	{"PATRQT", "patient requested"},
	{"FAMRQT", "family requested"},
	{"PWATRNY", "power of attorney"},
	{"SUPNWK", "support network"},
	{"PUBHLTH", "public health"},
	{"DISASTER", "disaster"},
	{"THREAT", "threat"},
	{"HMARKT", "healthcare marketing"},
	{"BTG", "break the glass"},
	{"ERTREAT", "emergency room treatment"},
	{"CLINTRL", "clinical trial"},
	{"COC", "coordination of care"},
	{"POPHLTH", "population health"},
	{"CAREMGT", "care management"},
	{"DONAT", "donation"},
	{"FRAUD", "fraud"},
	{"GOV", "government"},
	{"HACCRED", "health accreditation"},
	{"HCOMPL", "health compliance"},
	{"HDECD", "decedent"},
	{"HDIRECT", "directory"},
	{"HDM", "healthcare delivery management"},
	{"HLEGAL", "legal"},
	{"HOUTCOMS", "health outcome measure"},
	{"HPRGRP", "health program reporting"},
	{"HQUALIMP", "health quality improvement"},
	{"HSYSADMIN", "health system administration"},
	{"LABELING", "labeling"},
	{"METAMGT", "metadata management"},
	{"MEMADMIN", "member administration"},
	{"MILCDM", "military command"},
	{"PATADMIN", "patient administration"},
	{"PATSFTY", "patient safety"},
	{"PERFMSR", "performance measure"},
	{"RECORDMGT", "records management"},
	{"SYSDEV", "system development"},
	{"HTEST", "test health data"},
	{"TRAIN", "training"},
	{"CLMATTCH", "claim attachment"},
	{"COVAUTH", "coverage authorization"},
	{"COVERAGE", "coverage under policy or program"},
	{"ELIGDTRM", "eligibility determination"},
	{"ELIGVER", "eligibility verification"},
	{"ENROLLM", "enrollment"},
	{"MILDCRG", "military discharge"},
	{"REMITADV", "remittance advice"},
	{"BIORCH", "biomedical research"},
	{"CLINTRCH", "clinical trial research"},
	{"CLINTRCHNPC", "clinical trial research without patient care"},
	{"CLINTRCHPC", "clinical trial research with patient care"},
	{"PRECLINTRCH", "preclinical trial research"},
	{"DSRCH", "disease specific healthcare research"},
	{"POARCH", "population origins or ancestry healthcare research"},
	{"TRANSRCH", "translational healthcare research"},
}

// PurposesOfUse lists the v3 PurposeOfUse codes the package knows, the most used first:
// what a command-line tool offers before free text.
func PurposesOfUse() []Purpose { return append([]Purpose(nil), purposes...) }

// LookupPurpose finds a PurposeOfUse code by its code or its official display name, in
// any case ("etreat", "Emergency Treatment"): what a command-line tool takes where codes
// come first. Free text is not a code: false.
func LookupPurpose(s string) (Purpose, bool) {
	p := ParsePurpose(s)
	return p, p.Code != ""
}

// ParsePurpose reads a purpose as a person or a ledger entry gives it: a PurposeOfUse code
// in any case ("treat"), or its official display name in any case ("treatment", which is
// what grants said before codes existed), else free text, trimmed. The empty string is
// the zero Purpose.
func ParsePurpose(s string) Purpose {
	s = strings.TrimSpace(s)
	if p, ok := lookupPurpose(s); ok {
		return p
	}
	for _, p := range purposes {
		if strings.EqualFold(s, p.Display) {
			return p
		}
	}
	return Purpose{Display: s}
}

func lookupPurpose(code string) (Purpose, bool) {
	for _, p := range purposes {
		if strings.EqualFold(code, p.Code) {
			return p, true
		}
	}
	return Purpose{}, false
}

// String is the purpose as the ledger stores it: the code, or the free text.
func (p Purpose) String() string {
	if p.Code != "" {
		return p.Code
	}
	return p.Display
}

// coding is the purpose as a FHIR Coding: system, code and display for a code, display
// alone for free text (Coding has no other place for text, and a display-only Coding is
// valid R4).
func (p Purpose) coding() *coding {
	switch {
	case p.Code != "":
		return &coding{System: PurposeSystem, Code: p.Code, Display: p.Display}
	case p.Display != "":
		return &coding{Display: fhirString(p.Display)}
	}
	return nil
}
