/**
 * Smoke test of the benchmark harness (bench/): the bench app serves its routes with this
 * library and keeps a session across requests, and the report turns slices into medians,
 * ratios and increments over bare. The benchmark itself (`npm run bench`) is not run here.
 */
import request from 'supertest';
import { createBenchApp } from '../bench/app.js';
import { allCases, parseCaseId } from '../bench/cases.js';
import { locationOf } from '../bench/profile.js';
import { type Sample, aggregate, checkTargets, median, nearCacheNotes, resultsTable } from '../bench/report.js';

describe('bench harness', () => {
  it.each(['express', 'fastify'] as const)('serves the bench routes with the memory store on %s', async (platform) => {
    const { app, close } = await createBenchApp(parseCaseId(`novanest-memory@${platform}`), {});
    try {
      await app.init();
      if (platform === 'fastify') await (app.getHttpAdapter().getInstance() as { ready(): Promise<void> }).ready();
      const server = app.getHttpServer();
      const setup = await request(server).get('/setup').expect(200);
      const cookie = (setup.headers['set-cookie'] as unknown as string[])[0].split(';')[0];
      expect((await request(server).get('/read').set('Cookie', cookie).expect(200)).body).toEqual({ username: 'bench-user' });
      expect((await request(server).get('/write').set('Cookie', cookie).expect(200)).body).toEqual({ counter: 1 });
      expect((await request(server).get('/write').set('Cookie', cookie).expect(200)).body).toEqual({ counter: 2 });
      const fresh = await request(server).get('/new').expect(200);
      expect(fresh.headers['set-cookie']).toBeDefined();
      await request(server).get('/untouched').set('Cookie', cookie).expect(200);
    } finally {
      await close();
    }
  });

  it('compares each case with the bare app of the same platform and round', () => {
    const cases = allCases({ nearCache: false }).filter(
      (bench) => (bench.platform === 'express' && bench.layer.endsWith('memory')) || bench.id === 'bare@express',
    );
    const sample = (caseId: string, round: number, requests: number, cpuUs: number): Sample => ({
      round,
      caseId,
      route: 'read',
      requests,
      durationS: 1,
      p99Ms: 1,
      cpuUs,
      failures: 0,
    });
    const samples = [
      sample('bare@express', 1, 1000, 200_000), // 200 µs/req
      sample('novanest-memory@express', 1, 900, 189_000), // 210 µs/req: +10
      sample('bare@express', 2, 500, 150_000), // 300 µs/req (a slower round)
      sample('novanest-memory@express', 2, 450, 139_500), // 310 µs/req: +10
      sample('bare@express', 3, 1000, 200_000),
      sample('novanest-memory@express', 3, 800, 200_000), // 250 µs/req: +50
    ];
    const results = aggregate(samples, cases);
    const ours = results.find((cell) => cell.caseId === 'novanest-memory@express' && cell.route === 'read')!;
    expect(ours.incrementUs).toBeCloseTo(10);
    expect(ours.incrementMaxUs).toBeCloseTo(50);
    expect(ours.ratio).toBeCloseTo(0.9);
    expect(ours.reqPerSec).toBe(800);
    const checks = checkTargets(results, cases);
    expect(checks).toEqual([expect.objectContaining({ caseId: 'novanest-memory@express', route: 'read', targetUs: 10, met: true })]);
    expect(resultsTable(results, cases)).toContain('| express | novanest memory | read | 800 | 0.90 |');
    expect(median([3, 1, 2, 10])).toBe(2.5);
  });

  it('compares a slice with the bare slices around it when the run bracketed it', () => {
    const cases = allCases({ nearCache: false }).filter((bench) => bench.id === 'bare@fastify' || bench.id === 'novanest-memory@fastify');
    const samples: Sample[] = [
      // The round's bare slice ran in a quiet minute; the machine was slower around the case's slice.
      { round: 1, caseId: 'bare@fastify', route: 'write', requests: 1000, durationS: 1, p99Ms: 1, cpuUs: 30_000, failures: 0 },
      {
        round: 1,
        caseId: 'novanest-memory@fastify',
        route: 'write',
        requests: 500,
        durationS: 1,
        p99Ms: 1,
        cpuUs: 40_000,
        failures: 0,
        baseline: { cpuPerReqUs: 60, reqPerSec: 625 },
      },
    ];
    const ours = aggregate(samples, cases).find((cell) => cell.caseId === 'novanest-memory@fastify')!;
    expect(ours.incrementUs).toBeCloseTo(20); // 80 µs/req against the 60 around it, not the 30 of the quiet minute
    expect(ours.ratio).toBeCloseTo(0.8);
  });

  it('groups profile frames by library file, package and Node module', () => {
    expect(locationOf({ functionName: 'attach', url: 'file:///r/libs/session/dist/request/session.manager.js', lineNumber: 1 })).toBe(
      'novanest request/session.manager',
    );
    expect(locationOf({ functionName: 'x', url: 'file:///r/node_modules/@nestjs/core/router/a.js', lineNumber: 1 })).toBe('@nestjs/core');
    expect(locationOf({ functionName: 'x', url: 'node:_http_outgoing', lineNumber: 1 })).toBe('node:_http_outgoing');
    expect(locationOf({ functionName: '(garbage collector)', url: '', lineNumber: -1 })).toBe('(garbage collector)');
  });

  it('says how many near-cache loads were answered from memory, over all rounds', () => {
    const slice = (round: number, cacheHits: number, cacheMisses: number): Sample => ({
      round,
      caseId: 'novanest-redis-nearcache@fastify',
      route: 'read',
      requests: 1000,
      durationS: 1,
      p99Ms: 1,
      cpuUs: 1,
      failures: 0,
      cacheHits,
      cacheMisses,
    });
    const plain: Sample = {
      round: 1,
      caseId: 'novanest-redis@fastify',
      route: 'read',
      requests: 1000,
      durationS: 1,
      p99Ms: 1,
      cpuUs: 1,
      failures: 0,
    };
    expect(nearCacheNotes([slice(1, 990, 10), slice(2, 1000, 0), plain])).toEqual([
      'Near-cache novanest-redis-nearcache@fastify read: 99.50% of 2000 session loads answered from memory.',
    ]);
    expect(nearCacheNotes([plain])).toEqual([]);
  });
});
