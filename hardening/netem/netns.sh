#!/bin/sh
# netns.sh: two hosts on one machine for sttfast's network tests (hardening/netem).
#
# Two network namespaces, ID-a (the sender, 198.18.0.1) and ID-b (the receiver, 198.18.0.2), are
# joined by one veth pair (interface stt0 on both sides; 198.18.0.0/15 is the range RFC 2544
# sets aside for benchmarking, and nothing outside the pair can reach it). Each direction has a
# tbf bottleneck on its sender's egress, and nftables on each receiving side drops UDP packets to
# model loss on the wire after the bottleneck. Usage (as root):
#
#   netns.sh check                 exit 0 if namespaces can be made here, else say why, exit 3
#   netns.sh deps                  install nft, tc/ip and ping with apt-get where missing
#   netns.sh up ID RATE            create ID-a and ID-b joined by a RATE link (100mbit, 1gbit...)
#   netns.sh loss ID PATTERN       set the loss of both directions (see "Loss patterns")
#   netns.sh mtu ID BYTES          set the MTU of the link (both ends of stt0; default 1500)
#   netns.sh third ID              add a third host ID-c (198.18.0.5), joined to ID-b (198.18.0.6)
#                                  by a second veth pair (stt1, no bottleneck, no loss): another
#                                  machine on another network, for tests where a session moves
#   netns.sh stats ID              print counters: qdisc (tc -s), nft, UDP receive errors
#   netns.sh down ID               kill what runs inside ID-a and ID-b and delete them
#   netns.sh clean-stale           delete sttnm-PID-* namespaces whose owner PID is gone
#
# ID is sttnm-OWNERPID-N: OWNERPID is the process that owns the pair (the Go test), so parallel
# runs never collide and a crashed run's leftovers are found and removed by clean-stale.
#
# Bottleneck: tbf with burst = 2 ms and limit = 10 ms at RATE. For 1242-byte packets (1200-byte
# sttfast payload + UDP, IP and Ethernet headers) that is, at 100 Mbit/s, burst 25000 B and a
# queue of 125000 B = 100 packets = 10 ms; at 1 Gbit/s, burst 250000 B and a queue of 1250000 B
# = 1006 packets = 10 ms. tbf sees sttfast's UDP GSO super-packets whole (its drop counter counts
# one per super-packet), so the exact number of packets lost at the bottleneck is computed by the
# tests as packets sent by the sender minus packets that reached the receiver's nftables.
# gso_max_segs 1 on stt0 makes the kernel split super-packets before they cross the veth, so the
# receiver's nftables rules see (and drop) single datagrams, as a wire would carry them.
#
# Loss patterns (applied to UDP packets arriving on stt0, independently in each direction):
#   none          no loss
#   all           every UDP packet dropped: a network that blocks UDP (TCP still passes)
#   random:N      each packet dropped with probability N% (numgen random mod 100 < N)
#   first:N       the next N packets after the rule is set are dropped, then none (numgen inc):
#                 a deterministic loss of exactly the packet a test is about to cause
#   burst[:N:T]   outages of T ms (default 12) starting at most N times a second (default 3): a
#                 random 1% of packets are candidates (numgen random mod 100 < 1), a token
#                 bucket (limit rate N/second burst 1 packets) lets N of them a second start an
#                 outage, and while it lasts every packet is dropped. The outage is an element of
#                 a dynamic nftables set with a timeout, so it ends with time, not after a count
#                 of packets, and its frequency does not grow with the packet rate. (A
#                 packet-counted bad state, e.g. a ct-mark Gilbert model, outlives a sender that
#                 backs off exponentially after losing a whole flight: 16 MiB transfers stalled
#                 26 s and 62 s here while the "burst" waited for its next ten packets.) About
#                 3.6% of the time with the defaults; each outage loses a whole flight at
#                 100 Mbit/s (~120 packets at full rate), so recovery goes through the PTO.
#                 Set timeouts count in kernel ticks: T is rounded down to a multiple of
#                 1000/HZ ms (12 is exact at HZ 250 and 1000).
set -eu

PREFIX=sttnm
ADDR_A=198.18.0.1
ADDR_B=198.18.0.2
ADDR_C=198.18.0.5
ADDR_BC=198.18.0.6

die() { echo "netns.sh: $*" >&2; exit 1; }

# bytes_per_sec RATE: "100mbit" -> 12500000 (bits are the unit tc uses).
bytes_per_sec() {
	case "$1" in
	*gbit) n=${1%gbit}; echo $((n * 125000000)) ;;
	*mbit) n=${1%mbit}; echo $((n * 125000)) ;;
	*kbit) n=${1%kbit}; echo $((n * 125)) ;;
	*) die "rate $1: want NNNkbit, NNNmbit or NNNgbit" ;;
	esac
}

cmd_check() {
	if [ "$(id -u)" != 0 ]; then
		echo "netns.sh: needs root (network namespaces, tc and nftables)" >&2
		exit 3
	fi
	probe="$PREFIX-$$-probe"
	if ! ip netns add "$probe" 2>/dev/null; then
		echo "netns.sh: 'ip netns add' is not permitted here" >&2
		exit 3
	fi
	ip netns del "$probe"
}

cmd_deps() {
	missing=""
	command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
	command -v tc >/dev/null 2>&1 || missing="$missing iproute2"
	command -v nft >/dev/null 2>&1 || missing="$missing nftables"
	command -v ping >/dev/null 2>&1 || missing="$missing iputils-ping"
	[ -z "$missing" ] && return 0
	command -v apt-get >/dev/null 2>&1 || die "missing:$missing (and no apt-get to install them)"
	echo "netns.sh: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	apt-get install -y -qq $missing >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $missing >/dev/null; } ||
		die "apt-get install$missing failed"
}

cmd_up() {
	[ $# -eq 2 ] || die "usage: netns.sh up ID RATE"
	id=$1 rate=$2
	bps=$(bytes_per_sec "$rate")
	burst=$((bps / 500))  # 2 ms
	limit=$((bps / 100))  # 10 ms
	[ "$burst" -ge 3000 ] || burst=3000
	for side in a b; do
		ip netns list | awk '{print $1}' | grep -qx "$id-$side" && die "namespace $id-$side exists already"
	done
	# A failure (or a signal) half way leaves nothing behind.
	trap 'cmd_down "$id"' EXIT
	trap 'exit 130' INT TERM
	ip netns add "$id-a"
	ip netns add "$id-b"
	ip link add stt0 netns "$id-a" type veth peer name stt0 netns "$id-b"
	for side in a b; do
		ns="$id-$side"
		[ "$side" = a ] && addr=$ADDR_A || addr=$ADDR_B
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "$addr/30" dev stt0
		ip -n "$ns" link set stt0 gso_max_segs 1 up
		tc -n "$ns" qdisc replace dev stt0 root tbf rate "$rate" burst "$burst" limit "$limit"
	done
	cmd_loss "$id" none
	trap - EXIT INT TERM
}

cmd_third() {
	[ $# -eq 1 ] || die "usage: netns.sh third ID"
	id=$1
	ip netns list | awk '{print $1}' | grep -qx "$id-b" || die "namespace $id-b does not exist"
	ip netns list | awk '{print $1}' | grep -qx "$id-c" && die "namespace $id-c exists already"
	ip netns add "$id-c"
	ip link add stt1 netns "$id-c" type veth peer name stt1 netns "$id-b"
	ip -n "$id-c" link set lo up
	ip -n "$id-c" addr add "$ADDR_C/30" dev stt1
	ip -n "$id-c" link set stt1 up
	ip -n "$id-b" addr add "$ADDR_BC/30" dev stt1
	ip -n "$id-b" link set stt1 up
}

# rules PATTERN: the nftables rules of one receiving side.
rules() {
	m='iifname "stt0" meta l4proto udp'
	case "$1" in
	none) ;;
	all) echo "$m counter name \"dropped\" drop" ;;
	random:*)
		n=${1#random:}
		case "$n" in '' | *[!0-9]*) die "loss $1: N must be an integer percentage" ;; esac
		echo "$m numgen random mod 100 < $n counter name \"dropped\" drop"
		;;
	first:*)
		n=${1#first:}
		case "$n" in '' | *[!0-9]*) die "loss $1: N must be an integer" ;; esac
		echo "$m numgen inc mod 1000000000 < $n counter name \"dropped\" drop"
		;;
	burst | burst:*:*)
		n=3 t=12
		if [ "$1" != burst ]; then
			rest=${1#burst:}
			n=${rest%%:*} t=${rest#*:}
		fi
		case "$n$t" in '' | *[!0-9]*) die "loss $1: N and T must be integers" ;; esac
		echo "$m numgen random mod 100 < 1 limit rate $n/second burst 1 packets add @outage { meta l4proto timeout ${t}ms }"
		echo "$m meta l4proto @outage counter name \"dropped\" drop"
		;;
	*) die "loss pattern $1: want none, all, random:N, first:N or burst[:N:T]" ;;
	esac
}

cmd_loss() {
	[ $# -eq 2 ] || die "usage: netns.sh loss ID PATTERN"
	id=$1
	r=$(rules "$2")
	for side in a b; do
		# One transaction: the old table goes and the new one comes in a single nft run.
		ip netns exec "$id-$side" nft -f - <<-EOF
			table inet sttnetem
			delete table inet sttnetem
			table inet sttnetem {
				counter seen {}
				counter dropped {}
				set outage { type inet_proto; flags dynamic,timeout; }
				chain pre {
					type filter hook prerouting priority filter; policy accept;
					iifname "stt0" meta l4proto udp counter name "seen"
					$r
				}
			}
		EOF
	done
}

# mtu ID BYTES: a link narrower (or wider) than Ethernet's, e.g. a tunnel's.
cmd_mtu() {
	[ $# -eq 2 ] || die "usage: netns.sh mtu ID BYTES"
	case "$2" in '' | *[!0-9]*) die "mtu $2: want a number of bytes" ;; esac
	for side in a b; do
		ip -n "$1-$side" link set dev stt0 mtu "$2"
	done
}

# stats ID: one line per counter, "SIDE KEY VALUE", for the tests to parse.
cmd_stats() {
	[ $# -eq 1 ] || die "usage: netns.sh stats ID"
	id=$1
	for side in a b; do
		ns="$id-$side"
		tc -n "$ns" -s qdisc show dev stt0 | awk -v s="$side" '
			/^qdisc tbf/ { tbf = 1; next }
			/^qdisc/ { tbf = 0 }
			tbf && /Sent/ {
				gsub(/[(),]/, " ")
				for (i = 1; i <= NF; i++) {
					if ($i == "Sent") { print s, "qdisc_sent_bytes", $(i+1); print s, "qdisc_sent_packets", $(i+3) }
					if ($i == "dropped") print s, "qdisc_dropped", $(i+1)
					if ($i == "overlimits") print s, "qdisc_overlimits", $(i+1)
				}
			}'
		for c in seen dropped; do
			ip netns exec "$ns" nft list counter inet sttnetem "$c" |
				awk -v s="$side" -v c="$c" '/packets/ { print s, "nft_" c, $2 }'
		done
		# shellcheck disable=SC2016 # $1, $i are awk's fields
		ip netns exec "$ns" awk -v s="$side" '
			$1 == "Udp:" && !hdr { for (i = 2; i <= NF; i++) name[i] = $i; hdr = 1; next }
			$1 == "Udp:" && hdr { for (i = 2; i <= NF; i++) if (name[i] == "RcvbufErrors") print s, "udp_rcvbuf_errors", $i }
		' /proc/net/snmp
	done
}

cmd_down() {
	[ $# -eq 1 ] || die "usage: netns.sh down ID"
	for ns in "$1-a" "$1-b" "$1-c"; do
		ip netns list | awk '{print $1}' | grep -qx "$ns" || continue
		# Processes the tests started inside the namespace, by PID.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
}

cmd_clean_stale() {
	for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX-[0-9][0-9]*-" || true); do
		owner=${ns#"$PREFIX"-}
		owner=${owner%%-*}
		if [ ! -d "/proc/$owner" ]; then
			echo "netns.sh: removing stale $ns (owner $owner is gone)" >&2
			cmd_down "${ns%-[abc]}"
		fi
	done
}

[ $# -ge 1 ] || die "usage: netns.sh check|deps|up|loss|mtu|third|stats|down|clean-stale ..."
verb=$1
shift
case "$verb" in
check) cmd_check ;;
deps) cmd_deps ;;
up) cmd_up "$@" ;;
loss) cmd_loss "$@" ;;
mtu) cmd_mtu "$@" ;;
third) cmd_third "$@" ;;
stats) cmd_stats "$@" ;;
down) cmd_down "$@" ;;
clean-stale) cmd_clean_stale ;;
*) die "unknown command $verb" ;;
esac
