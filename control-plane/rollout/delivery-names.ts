/** The supervisor's names of a split cell's delivery instances (`cell-1.delivery-3`), used by scaling and delivery rollouts. */

/** The supervisor's name of a cell's delivery instance `n` (1-based): `cell-1.delivery-3`. */
export function deliveryChildName(cell: string, n: number): string {
  return `${cell}.delivery-${n}`;
}

/** The instance number of a delivery child (`cell-1.delivery-3` → 3). */
export function deliveryIndex(name: string): number {
  return Number(name.slice(name.lastIndexOf('-') + 1));
}
