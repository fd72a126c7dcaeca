import type {DoctorReport} from '../reconcile/doctor.js';
import {renderTable} from './table.js';

/** One row per check and context, the fix under a failing or warning one. */
export function renderDoctor(report: DoctorReport): string {
  const rows = report.clusters.flatMap((c) => c.checks.map((k) => [c.context, k.check, k.status, k.fix ? `${k.detail}; fix: ${k.fix}` : k.detail]));
  return renderTable(['CONTEXT', 'CHECK', 'STATUS', 'DETAIL'], rows);
}

export function doctorDocument(report: DoctorReport): unknown {
  return {apiVersion: 'superskyray.io/v1alpha1', kind: 'DoctorReport', ...report};
}
