#!/usr/bin/perl
# Build the test MaxMind DB used by the integration tests and `make run`.
#
#   perl tests/tools/make_mmdb.pl [--layout L] [--ip-version 4|6]
#                                 [--no-alias] OUT.mmdb
#
# By default the records are shaped like GeoLite2-Country (country /
# continent / registered_country) so the module reads the test file
# exactly as it reads a real one. --layout writes the same networks the
# way another database family keeps them (tests/tools/README.md):
# geoip2 (the default), dbip, ipinfo, ipinfo-lite, ip-location-db, or
# asn (no country at all). Tests run on loopback only, so most networks
# are carved out of 127/8; the documentation ranges are here for
# unit-style lookups. The network -> country table is in
# tests/tools/README.md and tests depend on it: change both together.

use strict;
use warnings;

use Getopt::Long;
use MaxMind::DB::Writer::Tree;

my $layout     = 'geoip2';
my $ip_version = 6;
my $no_alias   = 0;

GetOptions(
    'layout=s'     => \$layout,
    'ip-version=i' => \$ip_version,
    'no-alias'     => \$no_alias,
) or die "usage: $0 [--layout L] [--ip-version 4|6] [--no-alias] OUT.mmdb\n";

my $out = shift @ARGV
    or die "usage: $0 [--layout L] [--ip-version 4|6] [--no-alias] OUT.mmdb\n";
die "make_mmdb.pl: --ip-version is 4 or 6\n"
    unless $ip_version == 4 || $ip_version == 6;

my %continents = (
    NA => { geoname_id => 6255149, names => { en => 'North America' } },
    EU => { geoname_id => 6255148, names => { en => 'Europe' } },
    AS => { geoname_id => 6255147, names => { en => 'Asia' } },
);

# iso_code => [continent, geoname_id, English name, in the EU]
my %countries = (
    US => [ 'NA', 6252001, 'United States', 0 ],
    CA => [ 'NA', 6251999, 'Canada',        0 ],
    DE => [ 'EU', 2921044, 'Germany',       1 ],
    FR => [ 'EU', 3017382, 'France',        1 ],
    CN => [ 'AS', 1814991, 'China',         0 ],
);

# 127.0.4.0/24 is deliberately absent: it is the "country unknown" range.
my @networks = (
    [ '127.0.0.0/24',    'US' ],
    [ '127.0.1.0/24',    'DE' ],
    [ '127.0.2.0/24',    'FR' ],
    [ '127.0.3.0/24',    'CN' ],
    [ '127.0.5.0/24',    'CA' ],
    [ '192.0.2.0/24',    'US' ],
    [ '198.51.100.0/24', 'DE' ],
    [ '203.0.113.0/24',  'CN' ],
    [ '2001:db8:1::/48', 'US' ],
    [ '2001:db8:2::/48', 'DE' ],
    [ '2001:db8:3::/48', 'CN' ],
    # With IPv4 aliased into ::/96, ::1 sits where 0.0.0.1 would; no
    # IPv4 network here covers that address, so the two cannot collide.
    [ '::1/128',         'US' ],
);

sub country_record {
    my ($iso) = @_;
    my ( $cont, $gid, $name, $eu ) = @{ $countries{$iso} };
    my %country = ( geoname_id => $gid, iso_code => $iso,
                    names => { en => $name } );
    # GeoLite2 only carries the flag when it is true.
    $country{is_in_european_union} = 1 if $eu;
    return {
        continent          => { code => $cont, %{ $continents{$cont} } },
        country            => {%country},
        registered_country => {%country},
    };
}

my %types = (
    continent            => 'map',
    country              => 'map',
    registered_country   => 'map',
    names                => 'map',
    code                 => 'utf8_string',
    iso_code             => 'utf8_string',
    en                   => 'utf8_string',
    geoname_id           => 'uint32',
    is_in_european_union => 'boolean',
);

# The other families. Each: database_type as the vendor writes it (or
# close to it), the record of an iso_code, and the type of every key.
my %layouts = (
    geoip2 => {
        database_type => 'GeoIP2-Country',
        record        => \&country_record,
        types         => \%types,
    },
    # DB-IP lite: MaxMind's shape without registered_country
    dbip => {
        database_type => 'DBIP-Country-Lite',
        record        => sub {
            my $r = country_record(@_);
            delete $r->{registered_country};
            return $r;
        },
        types => \%types,
    },
    # IPinfo's free country DB: flat, the code under "country"
    ipinfo => {
        database_type => 'ipinfo country.mmdb',
        record        => sub {
            my ( $cont, $gid, $name ) = @{ $countries{ $_[0] } };
            return { country => $_[0], country_name => $name,
                     continent => $cont,
                     continent_name => $continents{$cont}{names}{en} };
        },
        types => { map { $_ => 'utf8_string' }
                   qw(country country_name continent continent_name) },
    },
    # IPinfo Lite: "country" is the name, the code is "country_code"
    'ipinfo-lite' => {
        database_type => 'ipinfo ipinfo_lite.mmdb',
        record        => sub {
            my ( $cont, $gid, $name ) = @{ $countries{ $_[0] } };
            return { country_code => $_[0], country => $name,
                     continent_code => $cont,
                     continent => $continents{$cont}{names}{en} };
        },
        types => { map { $_ => 'utf8_string' }
                   qw(country_code country continent_code continent) },
    },
    # npm @ip-location-db/*-country-mmdb: only the code, no aliases
    'ip-location-db' => {
        database_type => $ip_version == 4 ? 'country ipv4' : 'country ipvAll',
        record        => sub { return { country_code => $_[0] } },
        types         => { country_code => 'utf8_string' },
        no_alias      => 1,
    },
    # an ASN database: records, but no country anywhere
    asn => {
        database_type => 'GeoLite2-ASN',
        record        => sub {
            return { autonomous_system_number => 64496,
                     autonomous_system_organization => "AS of $_[0]" };
        },
        types => { autonomous_system_number       => 'uint32',
                   autonomous_system_organization => 'utf8_string' },
    },
);

my $l = $layouts{$layout}
    or die "make_mmdb.pl: unknown layout '$layout' (" .
           join( ', ', sort keys %layouts ) . ")\n";
my $alias = ( $ip_version == 6 && !$no_alias && !$l->{no_alias} ) ? 1 : 0;

my $tree = MaxMind::DB::Writer::Tree->new(
    database_type => $l->{database_type},
    description   => { en => 'ngx_ds test country database (not real data)' },
    languages     => ['en'],
    ip_version    => $ip_version,
    record_size   => 24,
    # IPv4 clients are looked up at ::a.b.c.d; aliasing makes
    # ::ffff:a.b.c.d (and 6to4/Teredo) resolve to the same records.
    alias_ipv6_to_ipv4 => $alias,
    # The default silently drops loopback and documentation ranges,
    # which are the only ones the tests use.
    remove_reserved_networks => 0,
    map_key_type_callback    => sub {
        my $t = $l->{types}{ $_[0] };
        die "make_mmdb.pl: no type for key '$_[0]'\n" unless defined $t;
        return $t;
    },
);

for my $n (@networks) {
    # an IPv4 tree has no room for the IPv6 networks
    next if $ip_version == 4 && $n->[0] =~ /:/;
    $tree->insert_network( $n->[0], $l->{record}->( $n->[1] ) );
}

# Write next to the target and rename, so a reader never sees half a file.
my $tmp = "$out.tmp.$$";
open my $fh, '>:raw', $tmp or die "cannot write $tmp: $!\n";
$tree->write_tree($fh);
close $fh or die "cannot close $tmp: $!\n";
rename $tmp, $out or die "cannot rename $tmp to $out: $!\n";
