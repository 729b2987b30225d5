# ClickHouse for the fleet's test and bench: Debian's clickhouse-server on
# free ports, its data in a scratch directory, with a cluster "two_shards"
# of two databases (shard1, shard2) on itself for Distributed tables.
# Source it, then: ch_setup DIR; ch_start || ...; chq SQL; ch_stop.
# Sets CH (its HTTP URL, ending in /), CH_HTTP, CH_TCP, CH_PID.

# free_port: a TCP port nothing listens on
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 20000))
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
	return 1
}

ch_setup() {
	CHD=$1
	CH_HTTP=$(free_port) CH_TCP=$(free_port)
	CH=http://127.0.0.1:$CH_HTTP/
	CH_PID=
	mkdir -p "$CHD/data" "$CHD/tmp" "$CHD/log"
	cat >"$CHD/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>$CHD/log/server.log</log><errorlog>$CHD/log/error.log</errorlog></logger>
    <http_port>$CH_HTTP</http_port>
    <tcp_port>$CH_TCP</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>$CHD/data/</path>
    <tmp_path>$CHD/tmp/</tmp_path>
    <user_files_path>$CHD/user_files/</user_files_path>
    <format_schema_path>$CHD/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>67108864</mark_cache_size>
    <remote_servers>
        <two_shards>
            <shard><replica><host>127.0.0.1</host><port>$CH_TCP</port><default_database>shard1</default_database></replica></shard>
            <shard><replica><host>127.0.0.1</host><port>$CH_TCP</port><default_database>shard2</default_database></replica></shard>
        </two_shards>
    </remote_servers>
</yandex>
EOF
	cat >"$CHD/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
        <profile>default</profile><quota>default</quota></default></users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF
}

ch_start() {
	clickhouse-server --config-file="$CHD/config.xml" >"$CHD/log/stdout" 2>&1 &
	CH_PID=$!
	for _ in $(seq 150); do
		curl -sf "${CH}?query=SELECT%201" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "clickhouse-server did not start: $(tail -n 3 "$CHD/log/error.log" "$CHD/log/stdout" 2>/dev/null | tr '\n' ' ')" >&2
	return 1
}
ch_stop() { kill -TERM "$CH_PID" 2>/dev/null; wait "$CH_PID" 2>/dev/null; CH_PID=; }
# chq SQL: ClickHouse's answer
chq() { curl -s --data-binary "$1" "$CH"; }
