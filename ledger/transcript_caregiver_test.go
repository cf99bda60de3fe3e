package ledger_test

import (
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/protocol/protocoltest"
)

// caregiverScenes adds the transcript's caregivers, after recovery, and returns the queries
// of their final state: alice delegates granting and revoking to carol, who grants and
// revokes for her until the delegation's end; then a delegation carol steps down from.
func caregiverScenes(sc scenes, alice, bob, carol, erin *protocoltest.Account, recA, recC protocol.ID) []string {
	block, tx, name := sc.block, sc.tx, sc.name
	nodeKeys := protocoltest.Keys(sc.nodes)
	grant := func(rec protocol.ID, to *protocoltest.Account) *protocol.Grant {
		g := protocoltest.Grant(rec, to.Key, nodeKeys, 0)
		g.OwnerEnc = alice.Key
		return g
	}
	d1 := protocol.DelegationID(sc.chain, alice.Key, alice.Seq)
	name("delegation-1", d1)
	block("alice delegates granting and revoking to carol until 4 h; delegations refused", 3*time.Hour)
	t0 := sc.clock().Add(-3 * time.Hour) // the time every block's offset is from
	tx("delegate-1", alice.Next(&protocol.Delegate{Caregiver: carol.Key, CaregiverEnc: carol.Key,
		Rights: protocol.RightGrant | protocol.RightRevoke, NotAfter: t0.Add(4 * time.Hour).UnixNano()}))
	tx("delegate-to-self", alice.Next(&protocol.Delegate{Caregiver: alice.Key, CaregiverEnc: alice.Key,
		Rights: protocol.RightRevoke, NotAfter: t0.Add(4 * time.Hour).UnixNano()}))
	tx("delegate-1-again", alice.Next(&protocol.Delegate{Caregiver: carol.Key, CaregiverEnc: carol.Key,
		Rights: protocol.RightRevoke, NotAfter: t0.Add(4 * time.Hour).UnixNano()}))

	careGrant := carol.GrantID()
	name("care-grant", careGrant)
	block("carol grants alice's record to bob, for alice; not another owner's record", 3*time.Hour+10*time.Second)
	tx("care-grant-A", carol.Next(grant(recA, bob)))
	tx("care-grant-bobs-record", carol.Next(grant(recC, erin)))
	ownGrant := alice.GrantID()
	name("grant-5", ownGrant)
	tx("grant-A-to-erin", alice.Next(grant(recA, erin)))

	block("carol revokes her grant, for alice; erin, no caregiver, cannot", 3*time.Hour+20*time.Second)
	tx("care-revoke", carol.Next(&protocol.Revoke{Grant: careGrant}))
	tx("revoke-by-stranger", erin.Next(&protocol.Revoke{Grant: ownGrant}))

	d2 := protocol.DelegationID(sc.chain, alice.Key, alice.Seq)
	name("delegation-2", d2)
	block("past delegation-1's end carol is refused; alice delegates revoking only; carol steps down", 4*time.Hour+time.Second)
	tx("care-grant-after-end", carol.Next(grant(recA, bob)))
	tx("delegate-2", alice.Next(&protocol.Delegate{Caregiver: carol.Key, CaregiverEnc: carol.Key,
		Rights: protocol.RightRevoke, NotAfter: t0.Add(5 * time.Hour).UnixNano()}))
	tx("care-grant-without-right", carol.Next(grant(recA, bob)))
	tx("end-2-by-stranger", bob.Next(&protocol.EndDelegation{Delegation: d2}))
	tx("end-2-step-down", carol.Next(&protocol.EndDelegation{Delegation: d2}))
	tx("care-revoke-after-step-down", carol.Next(&protocol.Revoke{Grant: ownGrant}))
	return []string{
		"/delegations/owner/" + alice.Key.String(),
		"/delegations/caregiver/" + carol.Key.String(),
		"/delegation/" + d1.String(),
		"/grant/" + careGrant.String(),
		"/grants/record/" + recA.String(),
	}
}
