package ledger

import "errors"

// Errors a transaction can fail with. Each maps to a stable ABCI result code
// (see Code) so that clients can tell the cases apart without parsing logs.
var (
	ErrInvalidTx     = errors.New("ledger: invalid transaction")
	ErrWrongChain    = errors.New("ledger: wrong chain id")
	ErrBadSignature  = errors.New("ledger: bad signature")
	ErrBadSequence   = errors.New("ledger: wrong sequence number")
	ErrNotFound      = errors.New("ledger: not found")
	ErrUnauthorized  = errors.New("ledger: signer not authorised")
	ErrUnknownNode   = errors.New("ledger: node not in the registry")
	ErrGrantRevoked  = errors.New("ledger: grant revoked")
	ErrGrantExpired  = errors.New("ledger: grant expired")
	ErrNotYetValid   = errors.New("ledger: grant not yet valid")
	ErrAlreadyExists = errors.New("ledger: already exists")
)

// Result codes returned in CheckTx and FinalizeBlock; 0 is success.
const (
	CodeOK            uint32 = 0
	CodeMalformed     uint32 = 1
	CodeUnsupported   uint32 = 2
	CodeInvalid       uint32 = 3
	CodeWrongChain    uint32 = 4
	CodeBadSignature  uint32 = 5
	CodeBadSequence   uint32 = 6
	CodeNotFound      uint32 = 7
	CodeUnauthorized  uint32 = 8
	CodeUnknownNode   uint32 = 9
	CodeGrantRevoked  uint32 = 10
	CodeGrantExpired  uint32 = 11
	CodeNotYetValid   uint32 = 12
	CodeAlreadyExists uint32 = 13
	CodeInternal      uint32 = 99
)

var codeOf = []struct {
	err  error
	code uint32
}{
	{ErrMalformed, CodeMalformed},
	{ErrUnsupportedTx, CodeUnsupported},
	{ErrInvalidTx, CodeInvalid},
	{ErrWrongChain, CodeWrongChain},
	{ErrBadSignature, CodeBadSignature},
	{ErrBadSequence, CodeBadSequence},
	{ErrNotFound, CodeNotFound},
	{ErrUnauthorized, CodeUnauthorized},
	{ErrUnknownNode, CodeUnknownNode},
	{ErrGrantRevoked, CodeGrantRevoked},
	{ErrGrantExpired, CodeGrantExpired},
	{ErrNotYetValid, CodeNotYetValid},
	{ErrAlreadyExists, CodeAlreadyExists},
}

// Code maps an error to its ABCI result code.
func Code(err error) uint32 {
	if err == nil {
		return CodeOK
	}
	for _, c := range codeOf {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return CodeInternal
}

// CodeError turns a result code back into its sentinel error (nil for OK),
// for clients that only see the code.
func CodeError(code uint32) error {
	if code == CodeOK {
		return nil
	}
	for _, c := range codeOf {
		if c.code == code {
			return c.err
		}
	}
	return errors.New("ledger: internal error")
}
