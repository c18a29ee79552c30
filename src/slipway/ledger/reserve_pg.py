"""The reservation as ONE statement on PostgreSQL: pick the host, its GPUs, CPUs and ports, insert it all.

The statement applies the scheduler's rule (:mod:`slipway.scheduler`) in SQL: the best-fitting host of the
queue (fewest GPUs, then CPUs, then memory left over, then the name), GPUs from the NUMA node that fits
them with the fewest left over (else the lowest indices), CPUs on the first GPU's node (else on the node
that fits them with the fewest left over), the lowest free ports outside ``blocked``. Two concurrent
statements cannot double-book: the allocation keys are unique, so the loser fails as a whole and the caller
retries on fresh data. The chosen host's row is locked ``SKIP LOCKED``: when another reservation holds it,
the statement inserts nothing and the caller takes the general path (which passes over busy hosts), as it
does when nothing fits (and then says host by host why).
"""

from __future__ import annotations

RESERVE_SQL = r"""
WITH
held AS (SELECT gpu_id FROM vessel_gpus WHERE held IS NOT NULL),
gcount AS (
  SELECT g.host_id, count(*) FILTER (WHERE vg.gpu_id IS NULL) AS free
  FROM gpus g LEFT JOIN vessel_gpus vg ON vg.gpu_id = g.id AND vg.held IS NOT NULL GROUP BY g.host_id),
ccount AS (SELECT host_id, count(*) AS used FROM cpu_allocations GROUP BY host_id),
mcount AS (
  SELECT host_id, sum(memory_mib) AS used FROM vessels
  WHERE state IN ('starting', 'running', 'stopping') GROUP BY host_id),
counts AS (
  SELECT h.id, h.name, h.cpus, h.memory_mib, h.numa_nodes, h.address, h.port_min, h.port_max,
         COALESCE(gc.free, 0) AS free_g, h.cpus - COALESCE(cc.used, 0) AS free_c,
         h.memory_mib - COALESCE(mc.used, 0) AS free_m
  FROM hosts h LEFT JOIN gcount gc ON gc.host_id = h.id LEFT JOIN ccount cc ON cc.host_id = h.id
       LEFT JOIN mcount mc ON mc.host_id = h.id
  WHERE h.enabled AND (:queue = 'any' OR h.queue = :queue)),
fits AS (
  SELECT * FROM counts WHERE free_g >= :gpus AND free_c >= :cpus AND free_m >= :memory
  ORDER BY free_g - :gpus, free_c - :cpus, free_m - :memory, name COLLATE "C" LIMIT 1),
locked AS (SELECT id FROM hosts WHERE id = (SELECT id FROM fits) FOR UPDATE SKIP LOCKED),
best AS (SELECT fits.* FROM fits, locked WHERE fits.id = locked.id),
free_g AS (
  SELECT g.id, g.uuid, g.idx, g.numa_node FROM gpus g, best
  WHERE g.host_id = best.id AND g.id NOT IN (SELECT gpu_id FROM held)),
gnode AS (
  SELECT numa_node FROM (SELECT numa_node, count(*) AS k FROM free_g GROUP BY numa_node) x
  WHERE k >= :gpus ORDER BY k - :gpus, numa_node LIMIT 1),
pick_g AS (
  SELECT * FROM free_g
  WHERE NOT EXISTS (SELECT 1 FROM gnode) OR numa_node = (SELECT numa_node FROM gnode)
  ORDER BY idx LIMIT :gpus),
free_c AS (
  SELECT c, LEAST(c / GREATEST(1, (best.cpus + best.numa_nodes - 1) / GREATEST(best.numa_nodes, 1)),
                  best.numa_nodes - 1) AS node
  FROM best, generate_series(0, best.cpus - 1) AS c
  WHERE NOT EXISTS (SELECT 1 FROM cpu_allocations ca WHERE ca.host_id = best.id AND ca.cpu = c)),
cnode AS (
  SELECT node FROM (SELECT node, count(*) AS k FROM free_c GROUP BY node) x
  WHERE k >= :cpus ORDER BY k - :cpus, node LIMIT 1),
pref AS (
  SELECT COALESCE((SELECT numa_node FROM pick_g ORDER BY idx LIMIT 1), (SELECT node FROM cnode)) AS node),
pick_c AS (
  SELECT c FROM free_c ORDER BY (node IS DISTINCT FROM (SELECT node FROM pref)), c LIMIT :cpus),
pick_p AS (
  SELECT p FROM best, generate_series(best.port_min, best.port_max) AS p
  WHERE NOT EXISTS (SELECT 1 FROM port_allocations pa WHERE pa.host_id = best.id AND pa.port = p)
    AND NOT (p = ANY(CAST(:blocked AS integer[])))
  ORDER BY p LIMIT :nports),
ok AS (
  SELECT (SELECT count(*) FROM pick_g) = :gpus AND (SELECT count(*) FROM pick_c) = :cpus
         AND (SELECT count(*) FROM pick_p) = :nports AS ok),
ins_v AS (
  INSERT INTO vessels (name, owner, host_id, queue, state, image, cpuset, cpus, memory_mib, shm_mib, ssh_port,
                       jupyter_port, address, created_at, updated_at, lease_until)
  SELECT :name, :owner, best.id, :queue, 'starting', :image,
         (SELECT string_agg(c::text, ',' ORDER BY c) FROM pick_c), :cpus, :memory, :shm,
         (SELECT p FROM pick_p ORDER BY p LIMIT 1), (SELECT p FROM pick_p ORDER BY p OFFSET 1 LIMIT 1),
         best.address, :now, :now, :lease
  FROM best, ok WHERE ok.ok
  RETURNING id, host_id, cpuset),
ins_g AS (INSERT INTO vessel_gpus (vessel_id, gpu_id, held) SELECT ins_v.id, pick_g.id, 1 FROM ins_v, pick_g
          RETURNING gpu_id),
ins_c AS (INSERT INTO cpu_allocations (host_id, cpu, vessel_id) SELECT ins_v.host_id, c, ins_v.id FROM ins_v, pick_c),
ins_p AS (INSERT INTO port_allocations (host_id, port, vessel_id) SELECT ins_v.host_id, p, ins_v.id FROM ins_v, pick_p),
ins_e AS (
  INSERT INTO events (at, actor, actor_subject, actor_email, action, vessel, host, detail)
  SELECT :now, :actor, :subject, :email, 'reserve', :name, best.name,
         json_build_object('cpuset', ins_v.cpuset, 'gpus', COALESCE((SELECT json_agg(uuid ORDER BY idx) FROM pick_g),
                                                                    '[]'::json),
                           'image', :image, 'memory_mib', :memory, 'owner', :owner,
                           'ports', COALESCE((SELECT json_agg(p ORDER BY p) FROM pick_p), '[]'::json))::text
  FROM ins_v, best WHERE (SELECT count(*) FROM ins_g) >= 0)  -- after the GPU rows: events in commit order
SELECT id FROM ins_v
"""
