package protocoltest

import "github.com/resilientrecords/resilientrecords/protocol"

// Emergency is an EmergencyRequest under grant signed by the account at its current
// sequence, co-signed by cosigner (nil: left unsigned), without advancing the sequence.
func (a *Account) Emergency(grant protocol.ID, reason string, cosigner *Account) []byte {
	tx := &protocol.Tx{ChainID: a.Chain, Signer: a.Key, Sequence: a.Seq, Expires: a.expires().UnixNano(),
		Body: &protocol.EmergencyRequest{Grant: grant, Reason: reason}}
	if cosigner != nil {
		must(0, protocol.CoSign(cosigner.Signer, tx))
	} else {
		tx.Body.(*protocol.EmergencyRequest).CoSigner = a.Key
	}
	must(0, tx.Sign(a.Signer))
	return tx.Encode()
}
