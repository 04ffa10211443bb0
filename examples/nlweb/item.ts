// The host's catalogue item: a schema.org JSON-LD object (the shipped dataset holds Recipes), and the
// result shape /ask streams for each hit. The site an item belongs to is its url's hostname.

export interface Item {
  '@type'?: string | string[]
  url: string
  name: string
  description?: string
  keywords?: string | string[]
  recipeCategory?: string | string[]
  recipeCuisine?: string | string[]
  recipeIngredient?: string[]
  /** schema.org RestrictedDiet values, e.g. 'https://schema.org/VegetarianDiet' */
  suitableForDiet?: string | string[]
  /** ISO 8601 duration, e.g. 'PT25M' */
  totalTime?: string
  [property: string]: unknown
}

/** One hit, as carried in a `result_batch` frame (NLWeb's field names). */
export interface AskResult {
  url: string
  name: string
  site: string
  score: number
  description: string
  schema_object: Item
}

export function siteOf (item: Item): string {
  try {
    return new URL(item.url).hostname.toLowerCase()
  } catch {
    return ''
  }
}

export function listOf (value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}

/** 'https://schema.org/VegetarianDiet', 'http://schema.org/VegetarianDiet' and 'VegetarianDiet' all read 'VegetarianDiet'. */
export function dietsOf (item: Item): string[] {
  return listOf(item.suitableForDiet).map((diet) => diet.slice(diet.lastIndexOf('/') + 1))
}

const ISO_DURATION = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:\d+S)?)?$/

/** Minutes in an ISO 8601 duration ('PT1H30M' → 90), undefined when absent or unreadable. */
export function minutesOf (duration: string | undefined): number | undefined {
  const match = duration === undefined ? null : ISO_DURATION.exec(duration)
  if (match === null) return undefined
  const [, days = '0', hours = '0', minutes = '0'] = match
  return Number(days) * 1440 + Number(hours) * 60 + Number(minutes)
}
