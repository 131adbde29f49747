// Package dataplane is sttfast's hot path: for each socket an Engine runs an RX loop (read a
// batch, find the session, check the replay window, open in place, process frames, deliver
// stream data) and a TX loop (pick ready sessions, pack ACK, control, application and stream
// frames into packets up to the path MTU, seal in place, send the batch with GSO), and holds the
// sessions and streams the application uses.
//
// Invariants:
//   - Steady state allocates nothing per packet: receive buffers come from a slab, stream data
//     lives in pooled chunks, rings carry pointers to long-lived objects, and the per-packet
//     scratch (frame views, ACK ranges, frame records) is reused. Tests assert it with
//     testing.AllocsPerRun.
//   - A packet is opened with exactly one key and recorded in the replay window only after it
//     authenticates; a packet that fails is counted by reason and dropped, never answered.
//   - A packet number is used once per direction: the TX loop is the only sealer of a session,
//     and every retransmission is a new packet.
//   - Protocol state of a session is guarded by its mutex, taken once per batch by each loop;
//     application goroutines touch it only on slow paths (opening a stream, the first write to an
//     idle stream, credit updates every half window).
//   - Receive windows and send buffers start at their configured sizes and grow toward the
//     path's bandwidth-delay product, up to Config's caps (autotune.go): a window doubles when
//     its reader consumed half of it within two round trips, a send buffer when it alone holds
//     the sender back. Growth allocates only when a window doubles, never per packet.
//   - A session moves to another address only once that address echoed a fresh PATH_CHALLENGE;
//     the dialer chooses its path, the responder follows (migrate.go). The paths of one session
//     share its engine, through a MultiConn when they are of several kinds.
//   - Sessions of one engine to the same peer address share a congestion window once there are
//     two of them (peergroup.go, recovery.Ensemble): their packets meet in one receive queue. A
//     session alone to its address is in no group. Broadcast also waits while the node's sessions
//     hold Config.NodeSendBuffer for sending (nodequeue.go).
//   - Nothing on the data path blocks on the control plane: handshake packets and events go
//     through bounded rings, and when a ring is full the item is counted and dropped.
//
// A path may say more about itself through optional interfaces, found when an engine is made:
// GSO and GRO support, ReliableConn (reliable.go: a TCP path, no loss timers or congestion
// window), and batchio.PeerGoneNotifier (pathgone.go: a path of connections that reports the
// end of one, whose sessions then end at once with CodePathClosed).
//
// The package knows nothing of the handshake policy (package ctrl installs sessions with their
// keys) nor of the command.
package dataplane
