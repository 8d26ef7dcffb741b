// SPDX-License-Identifier: GPL-2.0
/* gwctl doctor: checks that explain "no traffic", each with a verdict and what to do. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gwctl.h"
#include "lib/addr.h"
#include "lib/bpffs.h"
#include "lib/decap.h"
#include "lib/lb.h"
#include "maps.h"

struct doctor {
	unsigned ok, warn, fail;
	struct lbmap *m;
	uint32_t min_mtu;
	bool ipip;
};

static void verdict(struct doctor *d, const char *status, const char *check, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void verdict(struct doctor *d, const char *status, const char *check, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (!strcmp(status, "ok"))
		d->ok++;
	else if (!strcmp(status, "warn"))
		d->warn++;
	else
		d->fail++;
	open_json_object(NULL);
	print_string(PRINT_ANY, "status", "%-5s ", status);
	print_string(PRINT_ANY, "check", "%s: ", check);
	print_string(PRINT_ANY, "detail", "%s\n", detail);
	close_json_object();
}

/* The driver of ifname ("veth", "mlx5_core" ...), or "" when it can not be told. */
static const char *driver(const char *ifname, char *buf, size_t len)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%.15s", ifname);
	ifr.ifr_data = (void *)&info;
	if (ioctl(fd, SIOCETHTOOL, &ifr) == 0)
		snprintf(buf, len, "%s", info.driver);
	close(fd);
	return buf;
}

static bool if_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool up = true;	/* when it can not be told, say nothing */

	if (fd < 0)
		return up;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%.15s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0)
		up = ifr.ifr_flags & IFF_UP;
	close(fd);
	return up;
}

static int sysctl_int(const char *fmt, const char *arg)
{
	char path[256], buf[32];
	FILE *f;
	int v = -1;

	snprintf(path, sizeof(path), fmt, arg);
	f = fopen(path, "r");
	if (f) {
		if (fgets(buf, sizeof(buf), f))
			v = atoi(buf);
		fclose(f);
	}
	return v;
}

static int check_link(const struct lb_link_info *li, void *ctx)
{
	struct doctor *d = ctx;
	char check[64], drv[64];
	struct xg_link l;

	snprintf(check, sizeof(check), "link %s", li->ifname);
	if (!li->ifindex) {
		verdict(d, "fail", check, "the interface is gone (or in another network namespace): "
					  "no traffic reaches the balancer on it");
		return 0;
	}
	if (!li->prog_id) {
		verdict(d, "fail", check, "the pinned XDP link is not attached to a program");
		return 0;
	}
	if (!if_up(li->ifname))
		verdict(d, "fail", check, "the interface is down (ip link set %s up)", li->ifname);
	verdict(d, "ok", check, "XDP attached in %s mode (prog %u)",
		li->mode_known ? lb_xdp_mode_name(li->mode) : "unknown", li->prog_id);
	if (d->m && lbmap_link_get(d->m, li->ifindex, &l))
		verdict(d, "fail", check, "no lb_links entry for ifindex %u: every packet on it is "
					  "dropped (drop-no-link); restart gwd to rewrite it",
			li->ifindex);
	else if (d->m && l.mtu && l.mtu < d->min_mtu)
		d->min_mtu = l.mtu;
	if (li->mode_known && li->mode == LB_XDP_NATIVE &&
	    !strcmp(driver(li->ifname, drv, sizeof(drv)), "veth"))
		verdict(d, "warn", check,
			"veth in native mode: frames the balancer sends back out are dropped by the "
			"peer unless the peer runs an XDP program (an XDP_PASS one is enough) or has "
			"GRO on; or attach in mode generic");
	return 0;
}

static int check_service(uint32_t vip_id, const struct xg_vip_info *info, void *ctx)
{
	struct doctor *d = ctx;
	char check[64], addr[ADDR_STRLEN], mac[ADDR_STRLEN];
	unsigned total = 0, live = 0;
	struct xg_backend b;

	snprintf(check, sizeof(check), "service %s", info->name);
	if (info->vip.fwd == XG_FWD_IPIP)
		d->ipip = true;
	for (uint32_t id = 0; id < d->m->max_backends; id++) {
		const char *st;

		if (lbmap_backend_get(d->m, id, &b) || !(b.flags & XG_BE_F_IN_USE) ||
		    b.vip_id != vip_id)
			continue;
		total++;
		st = cli_backend_state(&b);
		live += !strcmp(st, "up");
		if (!strcmp(st, "unresolved"))
			verdict(d, "fail", check,
				"backend %s has no next-hop MAC (neighbour %s unresolved): it gets no "
				"new flows; is it reachable through the attached link?",
				addr_fmt(&b.addr, b.family, addr), mac_fmt(b.mac, mac));
		else if (!strcmp(st, "unhealthy"))
			verdict(d, "warn", check, "backend %s fails its health check",
				addr_fmt(&b.addr, b.family, addr));
	}
	if (!total)
		verdict(d, "fail", check, "no backends: its packets are dropped (drop-no-backend)");
	else if (!live)
		verdict(d, "fail", check, "none of its %u backends takes new flows (drained, down, "
					  "unhealthy or unresolved): new flows are dropped",
			total);
	else
		verdict(d, "ok", check, "%u of %u backends take new flows", live, total);
	return 0;
}

static void check_counters(struct doctor *d)
{
	struct xg_counter r[XG_R_MAX];
	static const struct {
		int reason;
		const char *hint;
	} hints[] = {
		{ XG_R_DROP_NO_LINK, "packets on a link without an lb_links entry" },
		{ XG_R_DROP_NO_BACKEND, "a service had no live backend" },
		{ XG_R_DROP_TOO_BIG, "packets too big after encapsulation, no ICMP possible" },
		{ XG_R_DROP_FAMILY, "fwd l2 to a backend of the other family" },
		{ XG_R_DROP_MALFORMED, "malformed packets to a VIP" },
	};

	if (lbmap_stats_reasons(d->m, r))
		return;
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (r[hints[i].reason].packets)
			verdict(d, "warn", "drops", "%llu packets %s: %s",
				(unsigned long long)r[hints[i].reason].packets,
				lbmap_reason_names[hints[i].reason], hints[i].hint);
	if (d->ipip && r[XG_R_ICMP_TOO_BIG_SENT].packets)
		verdict(d, "warn", "mtu",
			"%llu ICMP too-big sent: ipip adds 20 bytes (40 for IPv6), so packets over "
			"%u bytes do not fit a link MTU of %u; raise the MTU towards the backends, or "
			"lower the MSS the backends announce (ip route ... advmss)",
			(unsigned long long)r[XG_R_ICMP_TOO_BIG_SENT].packets,
			d->min_mtu > 20 ? d->min_mtu - 20 : 0, d->min_mtu);
	else if (d->ipip)
		verdict(d, "ok", "mtu",
			"no packet was too big for encapsulation yet (ipip adds 20 bytes, 40 for "
			"IPv6; smallest link MTU %u)",
			d->min_mtu);
}

static int check_decap_link(const struct lb_link_info *li, void *ctx)
{
	struct doctor *d = ctx;
	char check[64];
	int rp = sysctl_int("/proc/sys/net/ipv4/conf/%s/rp_filter", li->ifname);
	int rp_all = sysctl_int("/proc/sys/net/ipv4/conf/%s/rp_filter", "all");

	snprintf(check, sizeof(check), "decap %s", li->ifname);
	if (!li->ifindex || !li->prog_id)
		verdict(d, "fail", check, "the pinned decap link is not attached");
	else
		verdict(d, "ok", check, "decap program attached (prog %u)", li->prog_id);
	if ((rp > rp_all ? rp : rp_all) == 1)
		verdict(d, "warn", check,
			"strict rp_filter: decapsulated packets from clients routed through another "
			"interface are dropped (use rp_filter=2)");
	return 0;
}

static int count_addr(const struct xg_addr *a, uint8_t f, void *ctx)
{
	(*(unsigned *)ctx)++;
	return 0;
}

/* Addresses on lo besides the loopback ones: the VIPs a DSR backend owns. */
static void lo_vips(char *list, size_t len, unsigned *n4, unsigned *n6)
{
	struct ifaddrs *ifa, *i;
	char buf[INET6_ADDRSTRLEN];
	size_t o = 0;

	*n4 = *n6 = 0;
	list[0] = '\0';
	if (getifaddrs(&ifa))
		return;
	for (i = ifa; i; i = i->ifa_next) {
		const void *a;

		if (!i->ifa_addr || strcmp(i->ifa_name, "lo"))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct in_addr *in = &((struct sockaddr_in *)i->ifa_addr)->sin_addr;

			if ((ntohl(in->s_addr) >> 24) == 127)
				continue;
			a = in;
			(*n4)++;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *in6 = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LOOPBACK(in6))
				continue;
			a = in6;
			(*n6)++;
		} else {
			continue;
		}
		inet_ntop(i->ifa_addr->sa_family, a, buf, sizeof(buf));
		if (o < len)
			o += (size_t)snprintf(list + o, len - o, "%s%s", o ? ", " : "", buf);
	}
	freeifaddrs(ifa);
}

static void check_decap(struct doctor *d, struct decap_obj *dec)
{
	char dir[256], vips[256];
	unsigned n = 0, n4, n6;

	snprintf(dir, sizeof(dir), "%s/%s", XG_PIN_DECAP_DIR, XG_PIN_LINKS_DIR);
	lb_links_foreach(cli.bpffs, dir, check_decap_link, d);
	decap_addr_foreach(dec, count_addr, &n);
	if (!n)
		verdict(d, "fail", "decap", "no outer addresses accepted: nothing is decapsulated");
	else
		verdict(d, "ok", "decap", "%u outer addresses accepted", n);
	lo_vips(vips, sizeof(vips), &n4, &n6);
	if (!n4 && !n6)
		verdict(d, "fail", "vip",
			"no service address on lo: decapsulated packets to a VIP are dropped unless "
			"this host owns it (ip addr add VIP/32 dev lo)");
	else
		verdict(d, "ok", "vip", "addresses on lo: %s", vips);
	if (n4 && sysctl_int("/proc/sys/net/ipv4/conf/%s/arp_ignore", "all") < 1)
		verdict(d, "warn", "vip",
			"arp_ignore is 0: with VIPs on lo this host answers ARP for them and steals "
			"the balancer's traffic (DSR needs arp_ignore=1, arp_announce=2)");
}

static int doctor_run(int argc, char **argv)
{
	struct doctor d = { .min_mtu = UINT32_MAX };
	struct decap_obj *dec;
	char why[512];
	json_t *st = NULL;
	bool gwd_up;
	int map_errno;

	if (cli_no_more("doctor", argc, argv))
		return 1;
	open_json_object(NULL);
	open_json_array("checks");
	if (access(cli.bpffs, F_OK))
		verdict(&d, "fail", "bpffs", "%s does not exist: nothing was pinned there (wrong "
					     "--bpffs?)",
			cli.bpffs);
	else if (!bpffs_is_bpf(cli.bpffs))
		verdict(&d, "fail", "bpffs", "%s is not on a bpf filesystem: nothing is pinned there "
					     "(gwd mounts it; or mount -t bpf bpf /sys/fs/bpf)",
			cli.bpffs);
	else
		verdict(&d, "ok", "bpffs", "%s is on a bpf filesystem", cli.bpffs);
	gwd_up = gwd_try("GET", "status", NULL, &st, why, sizeof(why)) == 0;
	d.m = lbmap_open(cli.bpffs, true);
	map_errno = errno;
	dec = decap_open_pinned(cli.bpffs);
	if (gwd_up)
		verdict(&d, "ok", "gwd", "running (pid %lld, generation %lld)",
			(long long)json_integer_value(json_object_get(st, "pid")),
			(long long)json_integer_value(json_object_get(st, "generation")));
	else if (d.m)
		verdict(&d, "warn", "gwd", "%s: the pinned datapath keeps forwarding, but nothing "
					   "can be changed and neighbours are not followed",
			why);
	else if (dec)
		verdict(&d, "ok", "gwd", "not running; a backend host that only decapsulates "
					 "needs none");
	else
		verdict(&d, "fail", "gwd", "%s", why);
	json_decref(st);
	if (d.m) {
		unsigned before = d.ok + d.warn + d.fail;

		lb_links_foreach(cli.bpffs, XG_PIN_LINKS_DIR, check_link, &d);
		if (d.ok + d.warn + d.fail == before)
			verdict(&d, "fail", "links", "the balancer is attached to no interface: it "
						     "sees no traffic (gwctl link attach IFNAME)");
		if (d.min_mtu == UINT32_MAX)
			d.min_mtu = 0;
		cli_foreach_vip(d.m, check_service, &d);
		check_counters(&d);
		lbmap_close(d.m);
	} else if (map_errno == EACCES || map_errno == EPERM) {
		verdict(&d, "fail", "balancer", "permission denied opening the maps in %s: gwctl "
						"needs root",
			cli.bpffs);
	} else if (gwd_up) {
		verdict(&d, "warn", "balancer", "not loaded: gwd has no l4 links or services yet "
						"(gwctl link attach, gwctl vip add)");
	} else if (!dec && bpffs_is_bpf(cli.bpffs)) {
		verdict(&d, "fail", "bpffs", "nothing pinned in %s: neither gwd's balancer nor the "
					     "decap program (wrong --bpffs?)",
			cli.bpffs);
	}
	if (dec) {
		check_decap(&d, dec);
		decap_unload(dec);
	}
	close_json_array();
	print_u64(PRINT_ANY, "ok", "%llu ok", d.ok);
	print_u64(PRINT_ANY, "warn", ", %llu warnings", d.warn);
	print_u64(PRINT_ANY, "fail", ", %llu failures\n", d.fail);
	close_json_object();
	print_end();
	return d.fail ? 1 : 0;
}

static const struct cli_cmd doctor_cmds[] = {
	{ "", "",
	  "checks that explain \"no traffic\": bpffs, gwd, links (up, XDP mode, lb_links), "
	  "next-hop MACs, live backends, drops, MTU vs encapsulation; on a backend: decap, VIPs on lo, "
	  "rp_filter, ARP. Exits 1 on a failure",
	  doctor_run },
	{ NULL },
};

const struct cli_object obj_doctor = { "doctor", "diagnose why traffic does not flow",
				       doctor_cmds };
