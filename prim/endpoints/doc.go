// Package endpoints is the seed's EndpointManager in Go: names for sessions, so that an
// application sends to "sensor-7" or to a list of names instead of keeping session ids.
//
// A name belongs to one live session at a time (ErrNameTaken otherwise); a session may hold
// several names. Names drop when their session ends: a name whose session is done is at once
// invisible to Lookup, Names and Send, and a goroutine per named session (ended by the
// session's end) removes its names from the table. Sending goes through the node's
// SendToSessions, so a message to many names leaves as one broadcast (one message on each
// session's broadcast stream, the TX loops woken once).
package endpoints
