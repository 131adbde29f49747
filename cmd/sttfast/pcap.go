package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/sttfast/sttfast/capture"
	"github.com/sttfast/sttfast/stc"
)

const pcapHelp = `Usage: sttfast pcap decrypt (--keylog FILE | --seed FILE) IN OUT

Reads the capture IN (pcap or pcapng, as tcpdump, dumpcap or tshark write it) and writes OUT, a
pcap holding one record per STT packet found in IN, as a UDP datagram between the addresses and
ports it travelled between: packets of UDP datagrams (GSO super-packets split) and of WebSocket
binary messages (TCP reassembled). Every protected packet whose keys are known is replaced by its
plaintext, marked as decrypted for the Wireshark dissector tools/wireshark/stt.lua. Prints how
many packets it opened and how many it could not.

Keys: --keylog FILE reads the traffic secrets a node wrote with STTKEYLOGFILE set; it opens any
session listed. --seed FILE derives the keys of each session from its captured handshake, as
the peers did: only sessions without forward secrecy, whose handshake is in the capture.

Example:
  STTKEYLOGFILE=keys.log sttfast serve --addr udp://127.0.0.1:9000 --seed stt.seed &
  dumpcap -i lo -f 'udp port 9000' -w cap.pcapng
  sttfast pcap decrypt --keylog keys.log cap.pcapng clear.pcap
  wireshark -X lua_script:tools/wireshark/stt.lua clear.pcap`

// runPcap dispatches the pcap subcommands (only decrypt so far).
func runPcap(c *cli, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand (decrypt)")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprintln(c.stdout, pcapHelp)
		return errHelp
	}
	if args[0] != "decrypt" {
		return usagef("unknown subcommand %q (decrypt)", args[0])
	}
	return runPcapDecrypt(c, args[1:])
}

func runPcapDecrypt(c *cli, args []string) error {
	fs := newFlags(c, "pcap decrypt", pcapHelp)
	keylog := fs.String("keylog", "", "open packets with the traffic secrets of the key log `FILE`")
	seedFile := fs.String("seed", "", "derive session keys from captured handshakes with the seed in `FILE` (hex)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err}
	}
	if (*keylog == "") == (*seedFile == "") {
		return usagef("give exactly one of --keylog FILE and --seed FILE")
	}
	if fs.NArg() != 2 {
		return usagef("want two arguments, the capture IN and the file OUT to write, got %d", fs.NArg())
	}
	in, out := fs.Arg(0), fs.Arg(1)
	d, err := newDecrypter(*keylog, *seedFile)
	if err != nil {
		return err
	}
	defer d.Close()
	src, err := os.Open(in)
	if err != nil {
		return failf(err, "pcap decrypt: %s", in)
	}
	defer src.Close()
	dst, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return failf(err, "pcap decrypt: %s", out)
	}
	st, err := capture.Rewrite(src, dst, d)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return failf(err, "pcap decrypt: %s", in)
	}
	fmt.Fprintf(c.stdout, "opened %d protected packets, could not open %d; %d handshake packets; %d records read, %d GSO super-packets split, %d packets from WebSocket, %d records without STT\n",
		d.Opened, d.NotOpened, d.Handshakes, st.Records, st.SuperPackets, st.WSMessages, st.Skipped)
	return nil
}

// newDecrypter reads the key source the flags name.
func newDecrypter(keylog, seedFile string) (*capture.Decrypter, error) {
	if keylog != "" {
		f, err := os.Open(keylog)
		if err != nil {
			return nil, failf(err, "pcap decrypt: key log %s", keylog)
		}
		defer f.Close()
		d, err := capture.NewKeyLogDecrypter(f)
		if err != nil {
			return nil, failf(err, "pcap decrypt: key log %s", keylog)
		}
		return d, nil
	}
	seed, err := stc.LoadSeedFile(seedFile)
	if err != nil {
		return nil, usagef("--seed %s: %s", seedFile, seedProblem(err))
	}
	return capture.NewSeedDecrypter(seed), nil
}
