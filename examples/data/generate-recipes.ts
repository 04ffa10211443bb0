// Composes the shipped example dataset, examples/data/recipes.json: schema.org Recipe JSON-LD items.
// Deterministic (seeded PRNG, fixed tables), so re-running it reproduces the committed JSON byte for byte:
//   npx tsx examples/data/generate-recipes.ts
// (test/examples/recipes-data.test.ts checks that, and reads the text for doubled words and the like.)
// Diets are derived from the ingredients, never hand-assigned: every ingredient carries tags
// (m meat, f fish/seafood, d dairy, e egg, g gluten, h honey), so "vegetarian" always means no m/f,
// "vegan" additionally no d/e/h, "gluten-free" no g.
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

type Tag = 'm' | 'f' | 'd' | 'e' | 'g' | 'h'

interface Variant {
  name: string
  /** ingredient lines, each optionally suffixed `|tags` */
  ing: string[]
  /** short phrase for the description */
  desc: string
  keywords?: string[]
  /** pattern ids this variant fits; all when absent */
  only?: string[]
  /** how the variant reads in some patterns' names, by pattern id ('Potatoes' → 'Creamy Potato Mash') */
  as?: Record<string, string>
}

interface Pattern {
  id: string
  name: (variant: string) => string
  ing: string[]
  adj: string[]
  minutes: [number, number]
  cuisine?: string
  /** what the description calls the dish, when not the family's noun */
  noun?: string
  keywords?: string[]
}

interface Family {
  key: string
  site?: string
  category: string
  cuisine: string
  noun: string
  keywords: string[]
  take: number
  patterns: Pattern[]
  variants: Variant[]
}

const DIET = {
  vegan: 'https://schema.org/VeganDiet',
  vegetarian: 'https://schema.org/VegetarianDiet',
  glutenFree: 'https://schema.org/GlutenFreeDiet'
}

const p = (id: string, name: (v: string) => string, ing: string[], adj: string[], minutes: [number, number], extra: Partial<Pattern> = {}): Pattern =>
  ({ id, name, ing, adj, minutes, ...extra })

const families: Family[] = [
  {
    key: 'pasta',
    category: 'Dinner',
    cuisine: 'Italian',
    noun: 'pasta dish',
    keywords: ['pasta', 'italian'],
    take: 46,
    patterns: [
      p('spaghetti', (v) => `${v} Spaghetti`, ['400 g spaghetti|g', '2 cloves garlic, sliced', '3 tbsp olive oil', '40 g parmesan, grated|d'], ['classic', 'simple', 'silky'], [20, 30]),
      p('penne', (v) => `Creamy ${v} Penne`, ['400 g penne|g', '200 ml double cream|d', '1 shallot, diced', '1 tbsp butter|d'], ['creamy', 'comforting', 'rich'], [25, 35]),
      p('rigatoni', (v) => `Baked ${v} Rigatoni`, ['400 g rigatoni|g', '500 g passata', '125 g mozzarella|d', '1 tsp dried oregano'], ['bubbling', 'cheesy', 'family-style'], [45, 60], { keywords: ['baked', 'casserole'] }),
      p('fettuccine', (v) => `${v} Fettuccine`, ['350 g fettuccine|g', '2 tbsp butter|d', '1 lemon, zested', 'black pepper'], ['elegant', 'buttery', 'bright'], [20, 30]),
      p('onepot', (v) => `One-Pot ${v} Fusilli`, ['350 g fusilli|g', '1 litre vegetable stock', '1 onion, diced', '2 cloves garlic, minced'], ['easy', 'weeknight', 'no-fuss'], [20, 25], { keywords: ['one-pot', 'easy'] }),
      p('lasagna', (v) => `${v} Lasagna`, ['12 lasagna sheets|g', '700 ml tomato sauce', '250 g ricotta|d', '150 g mozzarella|d'], ['layered', 'hearty', 'make-ahead'], [75, 100], { keywords: ['baked', 'make-ahead'] })
    ],
    variants: [
      { name: 'Mushroom', ing: ['300 g chestnut mushrooms, sliced', '1 tsp thyme leaves'], desc: 'golden sautéed mushrooms and thyme', keywords: ['mushroom'] },
      { name: 'Spinach and Ricotta', ing: ['200 g baby spinach', '150 g ricotta|d', 'pinch of nutmeg'], desc: 'wilted spinach and creamy ricotta', keywords: ['spinach'] },
      { name: 'Tomato and Basil', ing: ['400 g cherry tomatoes, halved', 'a large handful of basil'], desc: 'sweet cherry tomatoes and fresh basil', keywords: ['tomato', 'basil'] },
      { name: 'Pesto', ing: ['120 g basil pesto|d', '30 g pine nuts, toasted'], desc: 'fragrant basil pesto and toasted pine nuts', keywords: ['pesto', 'basil'], only: ['spaghetti', 'penne', 'fettuccine', 'onepot'] },
      { name: 'Roasted Vegetable', ing: ['1 red pepper, chopped', '1 courgette, chopped', '1 aubergine, chopped'], desc: 'oven-roasted peppers, courgette and aubergine', keywords: ['vegetables'] },
      { name: 'Chicken', ing: ['2 chicken breasts, sliced|m', '1 tsp smoked paprika'], desc: 'tender pan-fried chicken', keywords: ['chicken'] },
      { name: 'Bacon and Pea', ing: ['150 g smoked bacon lardons|m', '150 g frozen peas'], desc: 'crispy bacon and sweet peas', keywords: ['bacon', 'peas'], only: ['spaghetti', 'penne', 'fettuccine', 'onepot'] },
      { name: 'Italian Sausage', ing: ['4 Italian sausages, casings removed|m', '1 tsp fennel seeds'], desc: 'crumbled Italian sausage and fennel', keywords: ['sausage', 'pork'] },
      { name: 'Garlic Shrimp', ing: ['300 g raw king prawns|f', '1 red chilli, chopped'], desc: 'garlicky prawns with a hint of chilli', keywords: ['shrimp', 'prawns', 'seafood'], only: ['spaghetti', 'fettuccine', 'onepot', 'penne'] },
      { name: 'Beef Bolognese', ing: ['500 g minced beef|m', '1 carrot, finely diced', '1 celery stick, finely diced', '120 ml red wine'], desc: 'a slow-simmered beef ragù', keywords: ['beef', 'bolognese', 'ragu'], only: ['spaghetti', 'rigatoni', 'lasagna', 'fettuccine'] },
      { name: 'Lemon Zucchini', ing: ['2 courgettes, spiralised', '1 lemon, juiced', 'a handful of mint'], desc: 'ribbons of zucchini, lemon and mint', keywords: ['zucchini', 'lemon'], only: ['spaghetti', 'fettuccine', 'onepot'] },
      { name: 'Tuna and Olive', ing: ['2 tins tuna in olive oil|f', '80 g black olives', '1 tbsp capers'], desc: 'flaked tuna, olives and capers', keywords: ['tuna', 'fish'], only: ['spaghetti', 'penne', 'onepot'] },
      { name: 'Butternut Squash', ing: ['600 g butternut squash, cubed', '8 sage leaves'], desc: 'roasted butternut squash and crispy sage', keywords: ['squash', 'autumn'], only: ['penne', 'rigatoni', 'lasagna', 'onepot'] }
    ]
  },
  {
    key: 'curry',
    category: 'Dinner',
    cuisine: 'Indian',
    noun: 'curry',
    keywords: ['curry'],
    take: 46,
    patterns: [
      p('curry', (v) => `${v} Curry`, ['1 onion, finely chopped', '3 cloves garlic, grated', '1 thumb ginger, grated', '2 tbsp curry powder', '400 g chopped tomatoes', '1 tsp garam masala'], ['warming', 'homestyle', 'fragrant'], [30, 45], { keywords: ['spicy'] }),
      p('green', (v) => `Thai Green ${v} Curry`, ['3 tbsp green curry paste|f', '400 ml coconut milk', '1 tbsp fish sauce|f', '2 lime leaves', 'a handful of Thai basil'], ['zingy', 'aromatic', 'vibrant'], [20, 30], { cuisine: 'Thai', keywords: ['thai', 'coconut', 'spicy'] }),
      p('red', (v) => `Thai Red ${v} Curry`, ['3 tbsp red curry paste', '400 ml coconut milk', '1 tbsp soy sauce|g', '1 tsp brown sugar', '1 red pepper, sliced'], ['fiery', 'creamy', 'aromatic'], [20, 30], { cuisine: 'Thai', keywords: ['thai', 'coconut', 'spicy'] }),
      p('tikka', (v) => `${v} Tikka Masala`, ['150 g natural yoghurt|d', '2 tbsp tikka paste', '400 g passata', '100 ml double cream|d', '1 tsp ground cumin'], ['smoky', 'creamy', 'restaurant-style'], [35, 50], { keywords: ['tikka masala'] }),
      p('korma', (v) => `${v} Korma`, ['50 g ground almonds', '200 ml single cream|d', '1 tsp ground cardamom', '1 onion, sliced', '1 tbsp ghee|d'], ['mild', 'nutty', 'gentle'], [35, 45], { keywords: ['mild', 'korma'] }),
      p('coconut', (v) => `Coconut ${v} Curry`, ['400 ml coconut milk', '1 tsp turmeric', '1 tsp mustard seeds', '10 curry leaves', '1 green chilli, slit'], ['creamy', 'golden', 'coastal'], [25, 35], { cuisine: 'Sri Lankan', keywords: ['coconut'] }),
      p('japanese', (v) => `Japanese ${v} Curry`, ['100 g Japanese curry roux|g', '2 carrots, chunked', '2 potatoes, chunked', '1 onion, sliced', 'steamed rice, to serve'], ['comforting', 'glossy', 'mild'], [35, 45], { cuisine: 'Japanese', keywords: ['japanese', 'mild'] })
    ],
    variants: [
      { name: 'Chickpea', ing: ['2 x 400 g tins chickpeas, drained', '100 g spinach'], desc: 'chickpeas and spinach', keywords: ['chickpea', 'legumes'], only: ['curry', 'coconut', 'tikka', 'korma', 'red'] },
      { name: 'Chicken', ing: ['600 g chicken thighs, diced|m'], desc: 'succulent chicken thighs', keywords: ['chicken'] },
      { name: 'Red Lentil', ing: ['250 g red lentils, rinsed', '750 ml vegetable stock'], desc: 'soft, creamy red lentils', keywords: ['lentils', 'dal'], only: ['curry', 'coconut'] },
      { name: 'Paneer', ing: ['400 g paneer, cubed|d', '150 g frozen peas'], desc: 'golden paneer cubes and peas', keywords: ['paneer', 'cheese'], only: ['curry', 'tikka', 'korma'] },
      { name: 'Tofu', ing: ['400 g firm tofu, cubed', '1 tbsp cornflour'], desc: 'crispy cubes of tofu', keywords: ['tofu'], only: ['green', 'red', 'coconut', 'japanese', 'tikka'] },
      { name: 'Lamb', ing: ['700 g lamb shoulder, diced|m', '1 cinnamon stick'], desc: 'slow-cooked lamb', keywords: ['lamb'], only: ['curry', 'korma', 'tikka'] },
      { name: 'Prawn', ing: ['400 g raw king prawns|f'], desc: 'juicy king prawns', keywords: ['prawns', 'shrimp', 'seafood'], only: ['green', 'red', 'coconut', 'curry'] },
      { name: 'Cauliflower and Potato', ing: ['1 cauliflower, in florets', '3 potatoes, cubed', '1 tsp cumin seeds'], desc: 'spiced cauliflower and potato (aloo gobi style)', keywords: ['cauliflower', 'potato', 'aloo gobi'], only: ['curry', 'coconut'] },
      { name: 'Beef', ing: ['700 g stewing beef, diced|m', '2 star anise'], desc: 'meltingly tender beef', keywords: ['beef'], only: ['curry', 'red', 'japanese', 'coconut'] },
      { name: 'Sweet Potato and Spinach', ing: ['2 sweet potatoes, cubed', '150 g baby spinach'], desc: 'sweet potato and wilted spinach', keywords: ['sweet potato', 'spinach'], only: ['curry', 'red', 'green', 'coconut'] },
      { name: 'Vegetable', ing: ['1 courgette, chopped', '1 red pepper, chopped', '150 g green beans', '1 carrot, sliced'], desc: 'a medley of seasonal vegetables', keywords: ['vegetables'] },
      { name: 'Fish', ing: ['500 g firm white fish, chunked|f'], desc: 'flaky white fish', keywords: ['fish', 'seafood'], only: ['green', 'red', 'coconut'] },
      { name: 'Butternut Squash', ing: ['700 g butternut squash, cubed', '50 g cashews'], desc: 'roasted butternut squash and cashews', keywords: ['squash'], only: ['red', 'green', 'korma', 'coconut'] }
    ]
  },
  {
    key: 'stirfry',
    category: 'Dinner',
    cuisine: 'Chinese',
    noun: 'wok dish',
    keywords: ['stir-fry', 'wok', 'asian'],
    take: 34,
    patterns: [
      p('stirfry', (v) => `${v} Stir-Fry`, ['2 tbsp soy sauce|g', '1 tbsp hoisin sauce|g', '1 thumb ginger, julienned', '1 head broccoli, in florets', '2 spring onions'], ['speedy', 'crunchy', 'savoury'], [15, 25]),
      p('kungpao', (v) => `Kung Pao ${v}`, ['3 dried red chillies', '50 g roasted peanuts', '1 tbsp Sichuan peppercorns', '2 tbsp soy sauce|g', '1 tbsp black vinegar'], ['tingly', 'punchy', 'sticky'], [20, 30], { keywords: ['sichuan', 'spicy', 'peanuts'] }),
      p('friedrice', (v) => `${v} Fried Rice`, ['500 g cooked jasmine rice, cold', '2 eggs, beaten|e', '100 g frozen peas', '2 tbsp soy sauce|g'], ['smoky', 'thrifty', 'quick'], [15, 20], { keywords: ['rice', 'leftovers'] }),
      p('lomein', (v) => `${v} Lo Mein`, ['300 g egg noodles|g|e', '2 tbsp soy sauce|g', '1 tsp sesame oil', '1 carrot, julienned', '100 g beansprouts'], ['slurpable', 'glossy', 'savoury'], [20, 25], { keywords: ['noodles'] }),
      p('padthai', (v) => `Pad Thai with ${v}`, ['200 g flat rice noodles', '2 tbsp tamarind paste', '1 tbsp fish sauce|f', '2 eggs|e', '40 g peanuts, crushed', '1 lime'], ['tangy', 'street-food', 'nutty'], [25, 30], { cuisine: 'Thai', keywords: ['thai', 'noodles', 'pad thai'] }),
      p('teriyaki', (v) => `Teriyaki ${v} Bowl`, ['4 tbsp teriyaki sauce|g', 'steamed rice, to serve', '1 tbsp sesame seeds', '1 cucumber, sliced', '1 avocado'], ['sweet-savoury', 'glossy', 'balanced'], [20, 30], { cuisine: 'Japanese', noun: 'rice bowl', keywords: ['japanese', 'rice bowl', 'teriyaki'] })
    ],
    variants: [
      { name: 'Chicken', ing: ['450 g chicken breast, sliced|m'], desc: 'tender strips of chicken', keywords: ['chicken'] },
      { name: 'Tofu', ing: ['400 g firm tofu, pressed and cubed'], desc: 'crisp golden tofu', keywords: ['tofu'] },
      { name: 'Beef', ing: ['400 g flank steak, thinly sliced|m'], desc: 'thinly sliced flank steak', keywords: ['beef', 'steak'] },
      { name: 'Shrimp', ing: ['350 g raw prawns, peeled|f'], desc: 'sweet, snappy prawns', keywords: ['shrimp', 'prawns', 'seafood'] },
      { name: 'Vegetable', ing: ['1 red pepper, sliced', '150 g mangetout', '150 g baby corn', '150 g shiitake mushrooms'], desc: 'peppers, mangetout, baby corn and shiitake', keywords: ['vegetables'], as: { kungpao: 'Vegetables', padthai: 'Vegetables' } },
      { name: 'Pork', ing: ['400 g pork tenderloin, sliced|m'], desc: 'juicy pork tenderloin', keywords: ['pork'], only: ['stirfry', 'friedrice', 'lomein', 'kungpao'] },
      { name: 'Salmon', ing: ['2 salmon fillets|f'], desc: 'flaky salmon', keywords: ['salmon', 'fish'], only: ['teriyaki'] }
    ]
  },
  {
    key: 'mexican',
    category: 'Dinner',
    cuisine: 'Mexican',
    noun: 'favourite',
    keywords: ['mexican', 'tex-mex'],
    take: 34,
    patterns: [
      p('tacos', (v) => `${v} Tacos`, ['8 small corn tortillas', '1 red onion, pickled', 'a handful of coriander', '2 limes', '1 avocado'], ['zesty', 'crowd-pleasing', 'colourful'], [20, 30], { keywords: ['tacos', 'street food'] }),
      p('bowl', (v) => `${v} Burrito Bowl`, ['250 g long-grain rice', '1 tin black beans', '200 g sweetcorn', '150 g fresh salsa', '1 lime'], ['hearty', 'build-your-own', 'fresh'], [25, 35], { keywords: ['burrito', 'rice bowl', 'meal prep'] }),
      p('enchiladas', (v) => `${v} Enchiladas`, ['8 flour tortillas|g', '500 ml red enchilada sauce', '150 g grated cheddar|d', '1 tsp ground cumin'], ['saucy', 'cheesy', 'baked'], [45, 60], { keywords: ['enchiladas', 'baked'] }),
      p('quesadillas', (v) => `${v} Quesadillas`, ['4 large flour tortillas|g', '150 g Monterey Jack, grated|d', '1 jalapeño, sliced'], ['crispy', 'melty', 'snackable'], [15, 20], { keywords: ['quesadillas', 'cheese'] }),
      p('fajitas', (v) => `${v} Fajitas`, ['2 peppers, sliced', '1 onion, sliced', '2 tsp fajita seasoning', '8 flour tortillas|g', '100 g soured cream|d'], ['sizzling', 'smoky', 'sharing'], [20, 30], { keywords: ['fajitas'] })
    ],
    variants: [
      { name: 'Chicken', ing: ['500 g chicken thighs|m', '1 tsp chipotle powder'], desc: 'chipotle-spiced chicken', keywords: ['chicken'] },
      { name: 'Black Bean', ing: ['2 tins black beans, drained', '1 tsp smoked paprika'], desc: 'smoky black beans', keywords: ['beans', 'black beans'] },
      { name: 'Beef', ing: ['500 g minced beef|m', '2 tbsp taco seasoning'], desc: 'seasoned minced beef', keywords: ['beef'] },
      { name: 'Pork Carnitas', ing: ['800 g pork shoulder|m', '1 orange, juiced', '1 tsp dried oregano'], desc: 'crispy slow-cooked pork carnitas', keywords: ['pork', 'carnitas'], only: ['tacos', 'bowl', 'enchiladas'] },
      { name: 'Fish', ing: ['450 g cod fillets|f', '60 g plain flour|g'], desc: 'crispy battered cod with lime crema', keywords: ['fish', 'seafood', 'baja'], only: ['tacos', 'bowl'] },
      { name: 'Sweet Potato', ing: ['2 sweet potatoes, cubed', '1 tsp ground cumin'], desc: 'cumin-roasted sweet potato', keywords: ['sweet potato'] },
      { name: 'Shrimp', ing: ['400 g prawns|f', '1 tsp chilli flakes'], desc: 'chilli-lime prawns', keywords: ['shrimp', 'prawns', 'seafood'], only: ['tacos', 'fajitas', 'bowl', 'quesadillas'] },
      { name: 'Mushroom', ing: ['400 g portobello mushrooms, sliced', '1 tsp ancho chilli powder'], desc: 'ancho-spiced portobello mushrooms', keywords: ['mushroom'] }
    ]
  },
  {
    key: 'soup',
    category: 'Soup',
    cuisine: 'European',
    noun: 'soup',
    keywords: ['soup', 'comfort food', 'winter', 'dinner'],
    take: 30,
    patterns: [
      p('soup', (v) => `${v} Soup`, ['1 onion, chopped', '2 cloves garlic', '1 litre vegetable stock', '2 tbsp olive oil'], ['velvety', 'soothing', 'rustic'], [30, 45]),
      p('creamy', (v) => `Creamy ${v} Soup`, ['1 onion, chopped', '1 litre vegetable stock', '100 ml single cream|d', '1 tbsp butter|d'], ['silky', 'luxurious', 'creamy'], [35, 45]),
      p('stew', (v) => `Spiced ${v} Stew`, ['1 onion, chopped', '2 carrots, chopped', '1 tsp smoked paprika', '400 g chopped tomatoes', '750 ml stock'], ['hearty', 'one-pot', 'warming'], [60, 120], { noun: 'stew', keywords: ['stew', 'one-pot'] }),
      p('chili', (v) => `${v} Chili`, ['1 onion, chopped', '2 tsp chilli powder', '1 tsp ground cumin', '2 tins chopped tomatoes', '1 tin kidney beans'], ['smoky', 'crowd-pleasing', 'batch-cook'], [45, 90], { cuisine: 'American', noun: 'chili', keywords: ['chili', 'batch cooking'] })
    ],
    variants: [
      { name: 'Tomato', ing: ['800 g ripe tomatoes', 'a handful of basil'], desc: 'ripe tomatoes and basil', keywords: ['tomato'], only: ['soup', 'creamy'] },
      { name: 'Red Lentil', ing: ['200 g red lentils', '1 tsp ground cumin', '1 lemon'], desc: 'red lentils, cumin and lemon', keywords: ['lentils'], only: ['soup', 'stew'] },
      { name: 'Chicken Noodle', ing: ['2 chicken breasts|m', '100 g egg noodles|g|e', '2 celery sticks'], desc: 'poached chicken and egg noodles', keywords: ['chicken', 'noodles'], only: ['soup'] },
      { name: 'Butternut Squash', ing: ['1 butternut squash, cubed', '1 tsp nutmeg'], desc: 'roasted butternut squash', keywords: ['squash', 'autumn'], only: ['soup', 'creamy'] },
      { name: 'Mushroom', ing: ['500 g mixed mushrooms', '1 tsp thyme'], desc: 'earthy mixed mushrooms and thyme', keywords: ['mushroom'], only: ['soup', 'creamy'] },
      { name: 'Black Bean', ing: ['2 tins black beans', '1 red pepper, diced'], desc: 'black beans and peppers', keywords: ['beans'], only: ['soup', 'chili'] },
      { name: 'Beef', ing: ['700 g braising beef|m', '2 tbsp plain flour|g'], desc: 'slow-braised beef', keywords: ['beef'], only: ['stew', 'chili'] },
      { name: 'Potato and Leek', ing: ['3 leeks, sliced', '3 potatoes, cubed'], desc: 'leeks and floury potatoes', keywords: ['potato', 'leek'], only: ['soup', 'creamy'] },
      { name: 'Sweet Potato', ing: ['3 sweet potatoes', '1 tsp ginger'], desc: 'sweet potato and ginger', keywords: ['sweet potato'], only: ['soup', 'chili', 'stew'] },
      { name: 'White Bean and Kale', ing: ['2 tins cannellini beans', '150 g kale', '1 parmesan rind|d'], desc: 'cannellini beans and kale', keywords: ['beans', 'kale'], only: ['soup', 'stew'] },
      { name: 'Turkey', ing: ['500 g turkey mince|m'], desc: 'lean turkey mince', keywords: ['turkey'], only: ['chili'] },
      { name: 'Chickpea and Chorizo', ing: ['2 tins chickpeas', '150 g chorizo, sliced|m'], desc: 'chickpeas and smoky chorizo', keywords: ['chorizo', 'chickpea'], only: ['stew', 'soup'] },
      { name: 'Roasted Cauliflower', ing: ['1 large cauliflower', '1 tsp cumin seeds'], desc: 'roasted cauliflower', keywords: ['cauliflower'], only: ['soup', 'creamy'] },
      { name: 'Seafood', ing: ['300 g mussels|f', '200 g white fish|f', '150 g prawns|f', '1 pinch saffron'], desc: 'mussels, prawns and white fish in a saffron broth', keywords: ['seafood', 'fish'], only: ['stew'] },
      { name: 'Carrot and Coriander', ing: ['800 g carrots', '1 bunch coriander'], desc: 'sweet carrots and fresh coriander', keywords: ['carrot'], only: ['soup'] },
      { name: 'French Onion', ing: ['1 kg onions, sliced', '4 slices baguette|g', '100 g gruyère|d', '1 litre beef stock|m'], desc: 'deeply caramelised onions under a cheesy crouton', keywords: ['onion', 'french'], only: ['soup'] }
    ]
  },
  {
    key: 'salad',
    category: 'Salad',
    cuisine: 'Mediterranean',
    noun: 'salad',
    keywords: ['salad', 'fresh', 'lunch', 'summer'],
    take: 28,
    patterns: [
      p('salad', (v) => `${v} Salad`, ['2 tbsp extra virgin olive oil', '1 tbsp red wine vinegar', '1 tsp Dijon mustard', 'salt and pepper'], ['crisp', 'fresh', 'zesty'], [10, 20]),
      p('warm', (v) => `Warm ${v} Salad`, ['2 tbsp olive oil', '1 tbsp balsamic vinegar', '100 g rocket'], ['warm', 'satisfying', 'seasonal'], [25, 35]),
      p('bowl', (v) => `${v} Grain Bowl`, ['200 g quinoa', '1 avocado', '2 tbsp tahini', '1 lemon', '1 tbsp pumpkin seeds'], ['nourishing', 'colourful', 'wholesome'], [25, 30], { noun: 'grain bowl', keywords: ['grain bowl', 'meal prep', 'healthy'] })
    ],
    variants: [
      { name: 'Greek', ing: ['1 cucumber', '4 tomatoes', '100 g feta|d', '80 g kalamata olives', '1 red onion'], desc: 'cucumber, tomato, feta and olives', keywords: ['greek', 'feta'], only: ['salad', 'bowl'] },
      { name: 'Chicken Caesar', ing: ['2 chicken breasts|m', '1 romaine lettuce', '50 g parmesan|d', '2 slices bread, for croutons|g', '2 anchovies|f', '1 egg yolk|e'], desc: 'grilled chicken, romaine and crunchy croutons', keywords: ['chicken', 'caesar'], only: ['salad'] },
      { name: 'Roasted Vegetable and Quinoa', ing: ['150 g quinoa', '1 red pepper', '1 courgette', '1 red onion'], desc: 'quinoa and roasted vegetables', keywords: ['quinoa', 'vegetables'], only: ['salad', 'warm'] },
      { name: 'Chickpea', ing: ['1 tin chickpeas', '1 cucumber', 'a handful of parsley', '1 lemon'], desc: 'chickpeas, herbs and lemon', keywords: ['chickpea'] },
      { name: 'Tuna Niçoise', ing: ['2 tuna steaks|f', '4 eggs, soft-boiled|e', '200 g green beans', '300 g new potatoes', '60 g olives'], desc: 'seared tuna, soft eggs and new potatoes', keywords: ['tuna', 'fish', 'french'], only: ['salad'] },
      { name: 'Caprese', ing: ['2 balls mozzarella|d', '4 heirloom tomatoes', 'fresh basil'], desc: 'mozzarella, tomatoes and basil', keywords: ['italian', 'mozzarella', 'tomato'], only: ['salad'] },
      { name: 'Sesame Chicken', ing: ['2 chicken breasts|m', '200 g red cabbage, shredded', '2 carrots, grated', '2 tbsp soy sauce|g', '1 tbsp sesame oil'], desc: 'sesame chicken and crunchy slaw', keywords: ['chicken', 'asian', 'slaw'] },
      { name: 'Lentil and Feta', ing: ['250 g puy lentils', '100 g feta|d', '1 red onion', 'a handful of mint'], desc: 'puy lentils, feta and mint', keywords: ['lentils', 'feta'] },
      { name: 'Salmon', ing: ['2 salmon fillets|f', '1 avocado', '100 g edamame'], desc: 'flaked salmon, avocado and edamame', keywords: ['salmon', 'fish'] },
      { name: 'Kale and Apple', ing: ['150 g kale', '2 apples', '40 g walnuts', '1 tbsp maple syrup'], desc: 'massaged kale, crisp apple and walnuts', keywords: ['kale', 'apple'], only: ['salad', 'bowl'] },
      { name: 'Halloumi and Roasted Pepper', ing: ['250 g halloumi|d', '2 roasted red peppers', '100 g rocket'], desc: 'griddled halloumi and sweet roasted peppers', keywords: ['halloumi', 'cheese'], only: ['warm', 'bowl'] },
      { name: 'Tofu and Peanut', ing: ['300 g tofu', '2 tbsp peanut butter', '1 lime', '1 tbsp tamari'], desc: 'crispy tofu with a peanut-lime dressing', keywords: ['tofu', 'peanut'], only: ['bowl', 'salad'] },
      { name: 'Steak', ing: ['2 sirloin steaks|m', '150 g cherry tomatoes', '50 g blue cheese|d'], desc: 'sliced sirloin, tomatoes and blue cheese', keywords: ['steak', 'beef'], only: ['warm', 'salad'] }
    ]
  },
  {
    key: 'mains',
    category: 'Dinner',
    cuisine: 'American',
    noun: 'dinner',
    keywords: ['dinner', 'main course'],
    take: 44,
    patterns: [
      p('lemonherb', (v) => `Lemon Herb ${v}`, ['2 lemons', '2 tbsp chopped parsley', '1 tsp dried oregano', '3 tbsp olive oil', '3 cloves garlic'], ['bright', 'herby', 'light'], [25, 40], { cuisine: 'Mediterranean' }),
      p('honeygarlic', (v) => `Honey Garlic ${v}`, ['3 tbsp honey|h', '4 cloves garlic, minced', '2 tbsp soy sauce|g', '1 tbsp rice vinegar'], ['sticky', 'sweet-savoury', 'glazed'], [20, 30]),
      p('sheetpan', (v) => `Sheet-Pan ${v} with Vegetables`, ['500 g baby potatoes, halved', '1 head broccoli', '1 red onion, wedged', '2 tbsp olive oil', '1 tsp smoked paprika'], ['hands-off', 'easy', 'roasted'], [35, 45], { keywords: ['sheet pan', 'one-pan', 'traybake'] }),
      p('skewers', (v) => `Grilled ${v} Skewers`, ['1 red pepper', '1 red onion', '2 tbsp olive oil', '1 tsp ground cumin', '150 g tzatziki|d'], ['charred', 'summery', 'smoky'], [25, 35], { cuisine: 'Greek', keywords: ['grill', 'bbq', 'summer'] }),
      p('slowcooker', (v) => `Slow-Cooker ${v}`, ['1 onion, sliced', '400 ml stock', '2 tbsp tomato purée', '1 tsp thyme', '3 carrots'], ['fall-apart', 'set-and-forget', 'hearty'], [240, 480], { keywords: ['slow cooker', 'crockpot'] }),
      p('crispy', (v) => `Crispy Baked ${v}`, ['80 g panko breadcrumbs|g', '1 egg, beaten|e', '40 g plain flour|g', '1 tsp garlic powder'], ['crunchy', 'oven-baked', 'kid-friendly'], [30, 40]),
      p('cajun', (v) => `Cajun ${v} with Rice`, ['2 tsp Cajun seasoning', '250 g long-grain rice', '1 green pepper', '2 celery sticks', '1 onion'], ['spicy', 'soulful', 'bold'], [25, 35], { cuisine: 'Cajun', keywords: ['cajun', 'spicy'] }),
      p('pan', (v) => `Pan-Seared ${v} with Garlic Butter`, ['3 tbsp butter|d', '4 cloves garlic', 'a few sprigs thyme', '1 lemon'], ['restaurant-style', 'buttery', 'quick'], [15, 25], { cuisine: 'French' })
    ],
    variants: [
      { name: 'Chicken Thighs', ing: ['8 bone-in chicken thighs|m'], desc: 'juicy chicken thighs', keywords: ['chicken'], only: ['lemonherb', 'honeygarlic', 'sheetpan', 'slowcooker', 'cajun', 'crispy'] },
      { name: 'Salmon', ing: ['4 salmon fillets|f'], desc: 'flaky salmon fillets', keywords: ['salmon', 'fish'], only: ['lemonherb', 'honeygarlic', 'sheetpan', 'skewers', 'pan', 'cajun'] },
      { name: 'Pork Chops', ing: ['4 pork chops|m'], desc: 'thick-cut pork chops', keywords: ['pork'], only: ['honeygarlic', 'sheetpan', 'crispy', 'pan', 'slowcooker'] },
      { name: 'Tofu', ing: ['400 g extra-firm tofu'], desc: 'golden tofu', keywords: ['tofu'], only: ['honeygarlic', 'skewers', 'crispy', 'sheetpan'] },
      { name: 'Cauliflower Steaks', ing: ['1 large cauliflower, cut into steaks'], desc: 'thick cauliflower steaks', keywords: ['cauliflower'], only: ['lemonherb', 'sheetpan', 'cajun'] },
      { name: 'Steak', ing: ['2 ribeye steaks|m'], desc: 'well-marbled ribeye', keywords: ['steak', 'beef'], only: ['pan', 'skewers', 'cajun'] },
      { name: 'Shrimp', ing: ['500 g king prawns|f'], desc: 'plump king prawns', keywords: ['shrimp', 'prawns', 'seafood'], only: ['lemonherb', 'honeygarlic', 'skewers', 'sheetpan', 'cajun', 'pan'] },
      { name: 'Halloumi', ing: ['2 blocks halloumi|d'], desc: 'squeaky halloumi', keywords: ['halloumi', 'cheese'], only: ['skewers', 'sheetpan', 'lemonherb'] },
      { name: 'Chicken Breast', ing: ['4 chicken breasts|m'], desc: 'tender chicken breasts', keywords: ['chicken'], only: ['lemonherb', 'honeygarlic', 'skewers', 'crispy', 'pan'] },
      { name: 'Pulled Pork', ing: ['1.5 kg pork shoulder|m', '2 tbsp brown sugar', '120 ml barbecue sauce'], desc: 'smoky pulled pork', keywords: ['pork', 'bbq'], only: ['slowcooker'] },
      { name: 'Beef Pot Roast', ing: ['1.5 kg beef chuck|m', '500 g potatoes'], desc: 'a beef chuck pot roast', keywords: ['beef', 'roast'], only: ['slowcooker'] },
      { name: 'Chickpea and Vegetable', ing: ['2 tins chickpeas', '1 sweet potato', '1 courgette'], desc: 'chickpeas and vegetables', keywords: ['chickpea', 'vegetables'], only: ['slowcooker', 'sheetpan'], as: { slowcooker: 'Chickpea and Vegetable Stew', sheetpan: 'Chickpeas' } },
      { name: 'Cod', ing: ['4 cod fillets|f'], desc: 'flaky cod fillets', keywords: ['cod', 'fish'], only: ['crispy', 'lemonherb', 'pan'] },
      { name: 'Eggplant', ing: ['2 large aubergines, sliced'], desc: 'meaty aubergine slices', keywords: ['eggplant', 'aubergine'], only: ['crispy', 'skewers', 'honeygarlic'] }
    ]
  },
  {
    key: 'sandwich',
    category: 'Lunch',
    cuisine: 'American',
    noun: 'lunch',
    keywords: ['lunch', 'sandwich', 'handheld'],
    take: 26,
    patterns: [
      p('burger', (v) => `${v} Burger`, ['4 brioche buns|g|e|d', '4 lettuce leaves', '1 tomato, sliced', '4 slices cheddar|d', 'pickles'], ['juicy', 'stacked', 'backyard'], [25, 35], { keywords: ['burger', 'bbq'] }),
      p('wrap', (v) => `${v} Wrap`, ['4 large wholewheat tortillas|g', '1 avocado', 'a handful of spinach', '2 tbsp hummus'], ['portable', 'fresh', 'light'], [10, 20], { keywords: ['wrap'] }),
      p('sandwich', (v) => `${v} Sandwich`, ['8 slices sourdough|g', '2 tbsp mayonnaise|e', '1 tomato', 'lettuce'], ['classic', 'stacked', 'deli-style'], [10, 15]),
      p('panini', (v) => `${v} Panini`, ['4 ciabatta rolls|g', '100 g mozzarella|d', '2 tbsp pesto|d'], ['toasty', 'melty', 'pressed'], [15, 20], { cuisine: 'Italian', keywords: ['panini', 'toasted'] })
    ],
    variants: [
      { name: 'Beef', ing: ['600 g minced beef|m'], desc: 'a chargrilled beef patty', keywords: ['beef'], only: ['burger'] },
      { name: 'Turkey', ing: ['300 g sliced roast turkey|m'], desc: 'sliced roast turkey', keywords: ['turkey'], only: ['burger', 'sandwich', 'wrap', 'panini'] },
      { name: 'Black Bean', ing: ['2 tins black beans', '60 g breadcrumbs|g', '1 tsp cumin'], desc: 'a smoky black bean patty', keywords: ['beans'], only: ['burger', 'wrap'] },
      { name: 'Chicken', ing: ['2 chicken breasts|m', '1 tsp paprika'], desc: 'grilled paprika chicken', keywords: ['chicken'] },
      { name: 'Falafel', ing: ['12 falafel', '3 tbsp tahini sauce'], desc: 'crispy falafel and tahini', keywords: ['falafel', 'middle eastern'], only: ['wrap', 'burger'] },
      { name: 'Tuna Melt', ing: ['2 tins tuna|f', '2 tbsp mayonnaise|e', '80 g cheddar|d'], desc: 'tuna mayo under melted cheddar', keywords: ['tuna', 'fish'], only: ['sandwich', 'panini'] },
      { name: 'Caprese', ing: ['200 g mozzarella|d', '2 tomatoes', 'basil leaves'], desc: 'mozzarella, tomato and basil', keywords: ['mozzarella', 'tomato'], only: ['panini', 'sandwich'] },
      { name: 'Mushroom and Swiss', ing: ['4 portobello mushrooms', '4 slices Swiss cheese|d'], desc: 'portobello mushrooms and Swiss cheese', keywords: ['mushroom'], only: ['burger', 'panini'] },
      { name: 'Hummus and Roasted Veg', ing: ['150 g hummus', '1 roasted red pepper', '1 grilled courgette'], desc: 'hummus and roasted vegetables', keywords: ['hummus', 'vegetables'], only: ['wrap', 'sandwich'] },
      { name: 'BLT', ing: ['8 rashers smoked bacon|m'], desc: 'crispy bacon, lettuce and tomato', keywords: ['bacon'], only: ['sandwich', 'wrap'] },
      { name: 'Salmon', ing: ['4 salmon fillets|f', '1 tbsp dill'], desc: 'a dill salmon fillet', keywords: ['salmon', 'fish'], only: ['burger', 'wrap'] },
      { name: 'Egg Salad', ing: ['6 hard-boiled eggs|e', '1 tsp mustard', 'chives'], desc: 'creamy egg salad with chives', keywords: ['egg'], only: ['sandwich'] }
    ]
  },
  {
    key: 'dessert',
    category: 'Dessert',
    cuisine: 'American',
    noun: 'dessert',
    keywords: ['dessert', 'sweet'],
    take: 58,
    patterns: [
      p('cake', (v) => `${v} Cake`, ['200 g plain flour|g', '200 g caster sugar', '3 eggs|e', '175 g butter|d', '2 tsp baking powder'], ['moist', 'celebration', 'tender'], [60, 75], { keywords: ['baking', 'cake'] }),
      p('brownies', (v) => `${v} Brownies`, ['185 g dark chocolate', '185 g butter|d', '3 eggs|e', '275 g golden caster sugar', '85 g plain flour|g'], ['fudgy', 'gooey', 'decadent'], [40, 50], { keywords: ['baking', 'brownies', 'bake sale'] }),
      p('cookies', (v) => `${v} Cookies`, ['225 g plain flour|g', '150 g butter|d', '1 egg|e', '150 g light brown sugar', '1 tsp vanilla extract'], ['chewy', 'crisp-edged', 'lunchbox'], [25, 35], { keywords: ['baking', 'cookies'] }),
      p('cheesecake', (v) => `${v} Cheesecake`, ['250 g digestive biscuits|g', '100 g butter, melted|d', '600 g cream cheese|d', '150 g caster sugar', '2 eggs|e'], ['creamy', 'make-ahead', 'showstopping'], [300, 420], { keywords: ['baking', 'cheesecake', 'make-ahead'] }),
      p('mousse', (v) => `${v} Mousse`, ['300 ml double cream|d', '3 eggs, separated|e', '50 g caster sugar'], ['airy', 'light', 'elegant'], [20, 30], { cuisine: 'French', keywords: ['mousse', 'no-bake'] }),
      p('pie', (v) => `${v} Pie`, ['1 sheet shortcrust pastry|g|d', '100 g sugar', '1 egg, for glazing|e', '1 tbsp cornflour'], ['golden', 'old-fashioned', 'flaky'], [70, 90], { keywords: ['baking', 'pie', 'pastry'] }),
      p('crumble', (v) => `${v} Crumble`, ['150 g plain flour|g', '100 g cold butter|d', '75 g demerara sugar', '50 g rolled oats'], ['rustic', 'comforting', 'crunchy-topped'], [45, 55], { cuisine: 'British', keywords: ['baking', 'crumble'] }),
      p('muffins', (v) => `${v} Muffins`, ['250 g self-raising flour|g', '2 eggs|e', '125 ml milk|d', '100 g caster sugar', '90 ml vegetable oil'], ['fluffy', 'domed', 'bakery-style'], [30, 35], { keywords: ['baking', 'muffins', 'snack'] }),
      p('nicecream', (v) => `${v} Nice Cream`, ['4 frozen bananas', '2 tbsp plant milk', '1 tbsp maple syrup'], ['dairy-free', 'frozen', 'no-churn'], [10, 10], { keywords: ['ice cream', 'frozen', 'no-bake', 'dairy-free'] }),
      p('tart', (v) => `${v} Tart`, ['1 sweet pastry case|g|e|d', '200 ml double cream|d', '50 g icing sugar'], ['glossy', 'patisserie', 'elegant'], [60, 90], { cuisine: 'French', keywords: ['baking', 'tart', 'pastry'] }),
      p('energy', (v) => `${v} Energy Bites`, ['150 g medjool dates', '100 g rolled oats', '2 tbsp chia seeds', '1 tbsp coconut oil'], ['no-bake', 'snackable', 'wholesome'], [15, 15], { noun: 'snack', keywords: ['no-bake', 'healthy', 'snack'] })
    ],
    variants: [
      { name: 'Chocolate', ing: ['100 g dark chocolate', '40 g cocoa powder'], desc: 'rich dark chocolate', keywords: ['chocolate', 'cocoa'], only: ['cake', 'cookies', 'mousse', 'tart', 'muffins', 'nicecream', 'cheesecake', 'energy', 'pie'] },
      { name: 'Double Chocolate', ing: ['150 g dark chocolate', '100 g milk chocolate chips|d'], desc: 'dark chocolate and milk chocolate chips', keywords: ['chocolate'], only: ['brownies', 'cookies', 'muffins', 'cake'] },
      { name: 'Dark Chocolate Raspberry', ing: ['150 g dark chocolate', '150 g raspberries'], desc: 'dark chocolate and tart raspberries', keywords: ['chocolate', 'raspberry', 'berries'], only: ['brownies', 'tart', 'cake', 'mousse', 'cheesecake'] },
      { name: 'Chocolate Peanut Butter', ing: ['100 g dark chocolate', '120 g smooth peanut butter'], desc: 'dark chocolate swirled with peanut butter', keywords: ['chocolate', 'peanut butter'], only: ['brownies', 'cookies', 'cheesecake', 'energy', 'nicecream', 'pie'] },
      { name: 'Lemon', ing: ['3 lemons, zest and juice'], desc: 'sharp, sunny lemon', keywords: ['lemon', 'citrus'], only: ['cake', 'cheesecake', 'tart', 'mousse', 'muffins', 'pie'] },
      { name: 'Apple', ing: ['5 Bramley apples', '1 tsp cinnamon'], desc: 'cinnamon-spiced apples', keywords: ['apple', 'autumn'], only: ['pie', 'crumble', 'cake', 'muffins'] },
      { name: 'Strawberry', ing: ['400 g strawberries'], desc: 'ripe summer strawberries', keywords: ['strawberry', 'berries', 'summer'], only: ['cheesecake', 'tart', 'nicecream', 'cake', 'pie', 'mousse'] },
      { name: 'Banana', ing: ['3 ripe bananas'], desc: 'ripe, caramelly bananas', keywords: ['banana'], only: ['cake', 'muffins', 'nicecream', 'cookies'] },
      { name: 'Salted Caramel', ing: ['200 g salted caramel sauce|d', '1 tsp flaky sea salt'], desc: 'salted caramel', keywords: ['caramel'], only: ['brownies', 'cheesecake', 'tart', 'cake'] },
      { name: 'Blueberry', ing: ['250 g blueberries'], desc: 'bursting blueberries', keywords: ['blueberry', 'berries'], only: ['muffins', 'crumble', 'pie', 'cheesecake'] },
      { name: 'Pumpkin Spice', ing: ['400 g pumpkin purée', '2 tsp pumpkin spice'], desc: 'pumpkin and warm spices', keywords: ['pumpkin', 'autumn', 'fall'], only: ['pie', 'cheesecake', 'muffins', 'cake'] },
      { name: 'Coconut', ing: ['100 g desiccated coconut', '200 ml coconut cream'], desc: 'toasted coconut', keywords: ['coconut'], only: ['cake', 'energy', 'nicecream', 'tart'] },
      { name: 'Oatmeal Raisin', ing: ['150 g rolled oats', '100 g raisins', '1 tsp cinnamon'], desc: 'chewy oats and plump raisins', keywords: ['oats', 'raisin'], only: ['cookies'] },
      { name: 'Rhubarb and Ginger', ing: ['500 g rhubarb', '1 tsp ground ginger'], desc: 'tart rhubarb and warming ginger', keywords: ['rhubarb'], only: ['crumble', 'pie'] },
      { name: 'Mango', ing: ['2 ripe mangoes'], desc: 'juicy mango', keywords: ['mango', 'tropical'], only: ['nicecream', 'mousse', 'cheesecake'] },
      { name: 'Matcha', ing: ['2 tbsp matcha powder'], desc: 'grassy matcha green tea', keywords: ['matcha', 'green tea'], only: ['cookies', 'cheesecake', 'energy'] }
    ]
  },
  {
    key: 'breakfast',
    category: 'Breakfast',
    cuisine: 'American',
    noun: 'breakfast',
    keywords: ['breakfast', 'brunch'],
    take: 36,
    patterns: [
      p('pancakes', (v) => `${v} Pancakes`, ['200 g plain flour|g', '2 eggs|e', '300 ml milk|d', '1 tbsp baking powder', 'butter, for frying|d'], ['fluffy', 'weekend', 'stacked'], [20, 25], { keywords: ['pancakes'] }),
      p('oats', (v) => `${v} Overnight Oats`, ['80 g rolled oats', '200 ml oat milk', '1 tbsp chia seeds', '1 tsp maple syrup'], ['make-ahead', 'creamy', 'grab-and-go'], [5, 10], { keywords: ['oats', 'meal prep', 'healthy'] }),
      p('smoothie', (v) => `${v} Smoothie`, ['250 ml almond milk', '1 frozen banana', '1 tbsp ground flaxseed'], ['thick', 'refreshing', 'energising'], [5, 5], { keywords: ['smoothie', 'drink', 'healthy'] }),
      p('omelette', (v) => `${v} Omelette`, ['3 eggs|e', '1 tbsp butter|d', 'chives'], ['fluffy', 'protein-packed', 'speedy'], [10, 15], { cuisine: 'French', keywords: ['eggs', 'omelette'] }),
      p('frittata', (v) => `${v} Frittata`, ['8 eggs|e', '50 g parmesan|d', '1 onion'], ['golden', 'brunch-worthy', 'sliceable'], [25, 35], { cuisine: 'Italian', keywords: ['eggs', 'frittata'] }),
      p('burrito', (v) => `${v} Breakfast Burrito`, ['4 flour tortillas|g', '6 eggs, scrambled|e', '100 g cheddar|d', 'salsa'], ['hearty', 'wrapped', 'on-the-go'], [20, 25], { cuisine: 'Mexican', keywords: ['burrito', 'eggs'] }),
      p('waffles', (v) => `${v} Waffles`, ['250 g plain flour|g', '2 eggs|e', '400 ml buttermilk|d', '60 g melted butter|d'], ['crisp', 'golden', 'weekend'], [25, 30], { keywords: ['waffles'] }),
      p('toast', (v) => `${v} Toast`, ['4 thick slices sourdough|g', '1 lemon', 'chilli flakes'], ['simple', 'café-style', 'quick'], [10, 10], { keywords: ['toast'] })
    ],
    variants: [
      { name: 'Blueberry', ing: ['150 g blueberries'], desc: 'juicy blueberries', keywords: ['blueberry', 'berries'], only: ['pancakes', 'oats', 'smoothie', 'waffles'] },
      { name: 'Banana Peanut Butter', ing: ['1 banana', '2 tbsp peanut butter'], desc: 'banana and peanut butter', keywords: ['banana', 'peanut butter'], only: ['pancakes', 'oats', 'smoothie', 'toast'] },
      { name: 'Spinach and Feta', ing: ['100 g spinach', '80 g feta|d'], desc: 'spinach and crumbled feta', keywords: ['spinach', 'feta'], only: ['omelette', 'frittata', 'burrito'] },
      { name: 'Ham and Cheese', ing: ['100 g ham|m', '60 g gruyère|d'], desc: 'ham and melted gruyère', keywords: ['ham', 'cheese'], only: ['omelette', 'frittata', 'waffles'] },
      { name: 'Chocolate Chip', ing: ['100 g dark chocolate chips'], desc: 'melty chocolate chips', keywords: ['chocolate'], only: ['pancakes', 'waffles', 'oats'] },
      { name: 'Mushroom', ing: ['200 g mushrooms', '1 tsp thyme'], desc: 'garlicky mushrooms', keywords: ['mushroom'], only: ['omelette', 'frittata', 'toast'] },
      { name: 'Strawberry', ing: ['200 g strawberries'], desc: 'fresh strawberries', keywords: ['strawberry', 'berries'], only: ['smoothie', 'oats', 'pancakes'] },
      { name: 'Apple Cinnamon', ing: ['2 apples, grated', '1 tsp cinnamon'], desc: 'apple and cinnamon', keywords: ['apple', 'cinnamon'], only: ['oats', 'pancakes', 'waffles'] },
      { name: 'Sausage and Pepper', ing: ['4 pork sausages|m', '1 red pepper'], desc: 'sausage and sweet peppers', keywords: ['sausage', 'pork'], only: ['burrito', 'frittata'] },
      { name: 'Green', ing: ['2 handfuls spinach', '1/2 avocado', '1 kiwi'], desc: 'spinach, avocado and kiwi', keywords: ['green', 'spinach', 'avocado'], only: ['smoothie'] },
      { name: 'Avocado', ing: ['2 ripe avocados', '1 tbsp seeds'], desc: 'smashed avocado', keywords: ['avocado'], only: ['toast', 'burrito'] },
      { name: 'Smoked Salmon', ing: ['150 g smoked salmon|f', '2 tbsp cream cheese|d'], desc: 'smoked salmon and cream cheese', keywords: ['salmon', 'fish'], only: ['omelette', 'toast', 'frittata'] },
      { name: 'Black Bean and Chorizo', ing: ['1 tin black beans', '100 g chorizo|m'], desc: 'black beans and chorizo', keywords: ['chorizo', 'beans'], only: ['burrito'] },
      { name: 'Mango Coconut', ing: ['1 mango', '100 ml coconut milk'], desc: 'mango and coconut', keywords: ['mango', 'tropical', 'coconut'], only: ['smoothie', 'oats'] }
    ]
  },
  {
    key: 'sides',
    category: 'Side Dish',
    cuisine: 'American',
    noun: 'side dish',
    keywords: ['side dish', 'sides'],
    take: 26,
    patterns: [
      p('roasted', (v) => `Roasted ${v}`, ['3 tbsp olive oil', '1 tsp flaky salt', 'black pepper'], ['caramelised', 'crispy-edged', 'simple'], [30, 45], { keywords: ['roasted', 'oven'] }),
      p('garlic', (v) => `Garlic Butter ${v}`, ['3 tbsp butter|d', '4 cloves garlic', 'a handful of parsley'], ['garlicky', 'buttery', 'irresistible'], [15, 25]),
      p('fritters', (v) => `${v} Fritters`, ['2 eggs|e', '60 g plain flour|g', '2 spring onions', 'oil, for frying'], ['crispy', 'golden', 'snackable'], [25, 30], { keywords: ['fritters', 'appetizer', 'snack'] }),
      p('mash', (v) => `Creamy ${v} Mash`, ['50 g butter|d', '100 ml milk|d', 'nutmeg'], ['fluffy', 'creamy', 'comforting'], [25, 30], { keywords: ['mash'] }),
      p('gratin', (v) => `${v} Gratin`, ['300 ml double cream|d', '80 g gruyère|d', '2 cloves garlic'], ['bubbling', 'indulgent', 'golden'], [60, 75], { cuisine: 'French', keywords: ['gratin', 'baked'] })
    ],
    variants: [
      { name: 'Potatoes', ing: ['1 kg potatoes'], desc: 'potatoes', keywords: ['potato'], only: ['roasted', 'garlic', 'mash', 'gratin'], as: { mash: 'Potato', gratin: 'Potato' } },
      { name: 'Broccoli', ing: ['2 heads broccoli'], desc: 'broccoli', keywords: ['broccoli', 'greens'], only: ['roasted', 'garlic'] },
      { name: 'Carrots', ing: ['600 g carrots', '1 tbsp maple syrup'], desc: 'maple carrots', keywords: ['carrot'], only: ['roasted', 'garlic'] },
      { name: 'Brussels Sprouts', ing: ['600 g Brussels sprouts', '1 tbsp balsamic'], desc: 'Brussels sprouts', keywords: ['brussels sprouts', 'thanksgiving'], only: ['roasted', 'garlic'] },
      { name: 'Green Beans', ing: ['500 g green beans', '30 g toasted almonds'], desc: 'green beans and almonds', keywords: ['green beans'], only: ['garlic', 'roasted'] },
      { name: 'Sweet Potato', ing: ['1 kg sweet potatoes'], desc: 'sweet potatoes', keywords: ['sweet potato'], only: ['roasted', 'mash', 'fritters', 'gratin'] },
      { name: 'Corn', ing: ['4 corn cobs'], desc: 'sweetcorn', keywords: ['corn', 'summer'], only: ['fritters', 'garlic', 'roasted'] },
      { name: 'Zucchini', ing: ['3 courgettes, grated'], desc: 'courgette', keywords: ['zucchini', 'courgette'], only: ['fritters', 'gratin', 'roasted'] },
      { name: 'Cauliflower', ing: ['1 large cauliflower'], desc: 'cauliflower', keywords: ['cauliflower', 'low carb'], only: ['roasted', 'mash', 'gratin', 'fritters'] },
      { name: 'Mushrooms', ing: ['500 g chestnut mushrooms'], desc: 'mushrooms', keywords: ['mushroom'], only: ['garlic', 'roasted'] },
      { name: 'Celeriac', ing: ['1 large celeriac'], desc: 'celeriac', keywords: ['celeriac', 'winter'], only: ['mash', 'gratin', 'roasted'] }
    ]
  },
  {
    key: 'rice',
    category: 'Dinner',
    cuisine: 'Italian',
    noun: 'rice dish',
    keywords: ['rice', 'one-pot'],
    take: 26,
    patterns: [
      p('risotto', (v) => `${v} Risotto`, ['300 g arborio rice', '1.2 litres hot stock', '1 glass dry white wine', '40 g parmesan|d', '1 tbsp butter|d'], ['creamy', 'stirred', 'comforting'], [35, 45], { keywords: ['risotto', 'italian'] }),
      p('paella', (v) => `${v} Paella`, ['300 g bomba rice', '1 litre stock', '1 pinch saffron', '1 tsp smoked paprika', '1 red pepper'], ['saffron-scented', 'sharing', 'sunny'], [45, 60], { cuisine: 'Spanish', keywords: ['paella', 'spanish'] }),
      p('pilaf', (v) => `${v} Pilaf`, ['300 g basmati rice', '1 cinnamon stick', '4 cardamom pods', '50 g toasted almonds', '600 ml stock'], ['fluffy', 'fragrant', 'jewelled'], [30, 40], { cuisine: 'Middle Eastern', keywords: ['pilaf', 'middle eastern'] }),
      p('biryani', (v) => `${v} Biryani`, ['300 g basmati rice', '2 onions, fried', '2 tbsp biryani masala', '150 g yoghurt|d', '1 pinch saffron'], ['layered', 'aromatic', 'festive'], [60, 90], { cuisine: 'Indian', keywords: ['biryani', 'indian'] })
    ],
    variants: [
      { name: 'Mushroom', ing: ['400 g mixed mushrooms', '15 g dried porcini'], desc: 'porcini and wild mushrooms', keywords: ['mushroom'], only: ['risotto', 'pilaf'] },
      { name: 'Chicken', ing: ['500 g chicken thighs|m'], desc: 'chicken thighs', keywords: ['chicken'], only: ['risotto', 'paella', 'pilaf', 'biryani'] },
      { name: 'Seafood', ing: ['300 g mussels|f', '200 g squid|f', '200 g prawns|f'], desc: 'mussels, squid and prawns', keywords: ['seafood', 'shrimp', 'fish'], only: ['paella', 'risotto'] },
      { name: 'Vegetable', ing: ['1 courgette', '150 g green beans', '1 carrot', '100 g peas'], desc: 'garden vegetables', keywords: ['vegetables'], only: ['paella', 'biryani', 'pilaf'] },
      { name: 'Lemon and Pea', ing: ['200 g peas', '1 lemon', 'mint'], desc: 'spring peas, lemon and mint', keywords: ['peas', 'lemon', 'spring'], only: ['risotto'] },
      { name: 'Butternut Squash', ing: ['600 g butternut squash', 'sage'], desc: 'roast squash and sage', keywords: ['squash', 'autumn'], only: ['risotto', 'pilaf'] },
      { name: 'Lamb', ing: ['600 g lamb leg, diced|m'], desc: 'tender spiced lamb', keywords: ['lamb'], only: ['biryani', 'pilaf'] },
      { name: 'Chorizo and Chicken', ing: ['200 g chorizo|m', '4 chicken thighs|m'], desc: 'chorizo and chicken', keywords: ['chorizo', 'chicken'], only: ['paella'] },
      { name: 'Asparagus', ing: ['1 bunch asparagus'], desc: 'tender asparagus spears', keywords: ['asparagus', 'spring'], only: ['risotto'] },
      { name: 'Egg and Potato', ing: ['4 boiled eggs|e', '2 potatoes'], desc: 'boiled eggs and golden potato', keywords: ['egg', 'potato'], only: ['biryani'] },
      { name: 'Chickpea and Apricot', ing: ['1 tin chickpeas', '80 g dried apricots'], desc: 'chickpeas and dried apricots', keywords: ['chickpea', 'apricot'], only: ['pilaf'] }
    ]
  },
  {
    key: 'bread',
    site: 'bakery.example.com',
    category: 'Baking',
    cuisine: 'European',
    noun: 'bake',
    keywords: ['baking', 'bread'],
    take: 18,
    patterns: [
      p('loaf', (v) => `${v} Bread`, ['500 g strong white flour|g', '7 g instant yeast', '1 tsp salt', '300 ml warm water'], ['crusty', 'homemade', 'rustic'], [150, 240], { keywords: ['bread', 'yeast'] }),
      p('focaccia', (v) => `${v} Focaccia`, ['500 g strong white flour|g', '7 g yeast', '100 ml olive oil', 'flaky sea salt'], ['dimpled', 'olive-oil-rich', 'airy'], [180, 240], { cuisine: 'Italian', keywords: ['focaccia', 'italian'] }),
      p('scones', (v) => `${v} Scones`, ['350 g self-raising flour|g', '85 g butter|d', '175 ml milk|d', '1 egg|e'], ['tall', 'tender', 'teatime'], [25, 30], { cuisine: 'British', keywords: ['scones', 'afternoon tea'] }),
      p('quickbread', (v) => `${v} Loaf`, ['250 g plain flour|g', '2 eggs|e', '100 g butter|d', '1 tsp bicarbonate of soda'], ['moist', 'sliceable', 'no-knead'], [60, 70], { cuisine: 'American', keywords: ['quick bread', 'loaf'] })
    ],
    variants: [
      { name: 'Banana', ing: ['3 very ripe bananas', '100 g brown sugar'], desc: 'ripe bananas', keywords: ['banana'], only: ['quickbread'] },
      { name: 'Rosemary and Sea Salt', ing: ['3 sprigs rosemary'], desc: 'rosemary and sea salt', keywords: ['rosemary'], only: ['focaccia', 'loaf'] },
      { name: 'Cheddar and Chive', ing: ['150 g mature cheddar|d', 'a bunch of chives'], desc: 'sharp cheddar and chives', keywords: ['cheese'], only: ['scones', 'loaf', 'quickbread'] },
      { name: 'Sourdough', ing: ['150 g active sourdough starter|g'], desc: 'a lively sourdough starter', keywords: ['sourdough'], only: ['loaf', 'focaccia'] },
      { name: 'Garlic and Herb', ing: ['6 cloves roasted garlic', 'mixed herbs'], desc: 'roasted garlic and herbs', keywords: ['garlic'], only: ['focaccia', 'loaf'] },
      { name: 'Cherry Tomato and Olive', ing: ['200 g cherry tomatoes', '80 g olives'], desc: 'blistered tomatoes and olives', keywords: ['tomato', 'olive'], only: ['focaccia'] },
      { name: 'Lemon Poppy Seed', ing: ['2 lemons', '2 tbsp poppy seeds', '150 g sugar'], desc: 'lemon and poppy seeds', keywords: ['lemon'], only: ['quickbread', 'scones'] },
      { name: 'Fruit', ing: ['100 g sultanas', '50 g sugar'], desc: 'plump sultanas', keywords: ['fruit', 'sultanas'], only: ['scones'] },
      { name: 'Zucchini', ing: ['2 courgettes, grated', '1 tsp cinnamon', '150 g sugar'], desc: 'grated courgette and cinnamon', keywords: ['zucchini'], only: ['quickbread'] },
      { name: 'Whole Wheat', ing: ['250 g wholemeal flour|g', '1 tbsp honey|h'], desc: 'nutty wholemeal flour and honey', keywords: ['wholemeal', 'whole wheat'], only: ['loaf'] },
      { name: 'Pumpkin', ing: ['250 g pumpkin purée', '2 tsp pumpkin spice', '150 g sugar'], desc: 'pumpkin and warm spices', keywords: ['pumpkin', 'autumn'], only: ['quickbread', 'scones'] }
    ]
  }
]

// mulberry32: tiny seeded PRNG, enough for deterministic variety
function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function parseIngredient (line: string): { text: string, tags: Set<Tag> } {
  const [text = '', ...tags] = line.split('|')
  return { text, tags: new Set(tags as Tag[]) }
}

function isoDuration (minutes: number): string {
  const h = Math.floor(minutes / 60)
  const m = minutes % 60
  return `PT${h > 0 ? `${h}H` : ''}${m > 0 || h === 0 ? `${m}M` : ''}`
}

const slug = (s: string): string => s.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')

/** 'a' or 'an' by the word's first sound: 'an aromatic', 'a one-pot' */
const article = (word: string): string => /^[aeiou]/i.test(word) && !/^one\b/i.test(word) ? 'an' : 'a'
const capitalise = (text: string): string => `${text.charAt(0).toUpperCase()}${text.slice(1)}`

// `desc` may be singular ('a slow-simmered beef ragù') or plural ('chickpeas and spinach'): no opener conjugates a verb with it
const OPENERS = [
  (adj: string, noun: string, desc: string) => `${capitalise(article(adj))} ${adj} ${noun} built around ${desc}.`,
  (adj: string, noun: string, desc: string) => `This ${adj} ${noun} showcases ${desc}.`,
  (adj: string, noun: string, desc: string) => `The star of this ${adj} ${noun}: ${desc}.`,
  (adj: string, noun: string, desc: string) => `Our go-to ${adj} ${noun}, made with ${desc}.`
]

/** minutes as hours to the nearest quarter (or half): '1', '1¼', '1½', '1¾' */
function hours (minutes: number, step: 15 | 30 = 15): string {
  const quarters = Math.round(minutes / step) * (step / 15)
  return `${Math.floor(quarters / 4)}${['', '¼', '½', '¾'][quarters % 4] as string}`
}

function timeNote (minutes: number, weeknight: boolean): string {
  if (minutes <= 15) return `On the table in ${minutes} minutes.`
  if (minutes <= 30) return weeknight ? `Ready in about ${minutes} minutes, so it works on a busy weeknight.` : `Ready in about ${minutes} minutes.`
  if (minutes <= 60) return `Takes around ${minutes} minutes from start to finish.`
  if (minutes < 180) return `Takes about ${hours(minutes) === '1' ? 'an hour' : `${hours(minutes)} hours`} from start to finish.`
  return `About ${hours(minutes, 30)} hours in total, most of it hands-off.`
}

function dietNote (vegan: boolean, vegetarian: boolean, glutenFree: boolean): string {
  const parts = [vegan ? 'vegan' : vegetarian ? 'vegetarian' : '', glutenFree ? 'gluten-free' : ''].filter(Boolean)
  return parts.length > 0 ? ` Naturally ${parts.join(' and ')}.` : ''
}

/** categories whose quick recipes are sold as weeknight cooking */
const WEEKNIGHT = new Set(['Dinner', 'Soup'])

export function generateRecipes (): Array<Record<string, unknown>> {
  const random = rng(20240611)
  const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)] as T
  const between = (lo: number, hi: number, step = 5): number => lo + step * Math.floor(random() * (Math.floor((hi - lo) / step) + 1))
  const shuffle = <T>(list: T[]): T[] => {
    const out = [...list]
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[out[i], out[j]] = [out[j] as T, out[i] as T]
    }
    return out
  }

  const items: Array<Record<string, unknown>> = []
  const seen = new Set<string>()

  for (const family of families) {
    const combos: Array<[Pattern, Variant]> = []
    for (const pattern of family.patterns) {
      for (const variant of family.variants) {
        if (variant.only === undefined || variant.only.includes(pattern.id)) combos.push([pattern, variant])
      }
    }
    let taken = 0
    for (const [pattern, variant] of shuffle(combos)) {
      if (taken >= family.take) break
      const name = pattern.name(variant.as?.[pattern.id] ?? variant.name)
      const id = slug(name)
      if (seen.has(id)) continue
      seen.add(id)
      taken++

      const ingredients = [...variant.ing, ...pattern.ing].map(parseIngredient)
      const tags = new Set(ingredients.flatMap((i) => [...i.tags]))
      const vegetarian = !tags.has('m') && !tags.has('f')
      const vegan = vegetarian && !tags.has('d') && !tags.has('e') && !tags.has('h')
      const glutenFree = !tags.has('g')
      const diets = [vegan && DIET.vegan, vegetarian && DIET.vegetarian, glutenFree && DIET.glutenFree].filter((d): d is string => typeof d === 'string')

      const total = between(pattern.minutes[0], pattern.minutes[1])
      const prep = Math.min(total, Math.max(5, Math.round(total * (0.2 + random() * 0.2) / 5) * 5))
      const cuisine = pattern.cuisine ?? family.cuisine
      const weeknight = WEEKNIGHT.has(family.category)
      const keywords = new Set([
        ...family.keywords, ...(pattern.keywords ?? []), ...(variant.keywords ?? []),
        ...(vegan ? ['vegan', 'plant-based'] : []), ...(vegetarian ? ['vegetarian'] : []), ...(glutenFree ? ['gluten-free'] : []),
        ...(total <= 30 ? ['quick'] : []), ...(total <= 30 && weeknight ? ['weeknight'] : []), ...(total >= 180 ? ['slow', 'weekend project'] : [])
      ])
      const site = family.site ?? 'recipes.example.com'
      const description = `${pick(OPENERS)(pick(pattern.adj), `${cuisine} ${pattern.noun ?? family.noun}`, variant.desc)} ${timeNote(total, weeknight)}${dietNote(vegan, vegetarian, glutenFree)}`

      items.push({
        '@context': 'https://schema.org',
        '@type': 'Recipe',
        '@id': `https://${site}/recipes/${id}`,
        url: `https://${site}/recipes/${id}`,
        name,
        description,
        image: `https://${site}/images/${id}.jpg`,
        author: { '@type': 'Organization', name: site === 'recipes.example.com' ? 'Example Recipes Test Kitchen' : 'Example Bakery' },
        recipeCategory: family.category,
        recipeCuisine: cuisine,
        keywords: [...keywords].join(', '),
        recipeYield: `${pick([2, 4, 4, 6, 8])} servings`,
        prepTime: isoDuration(prep),
        cookTime: isoDuration(total - prep),
        totalTime: isoDuration(total),
        suitableForDiet: diets,
        recipeIngredient: ingredients.map((i) => i.text)
      })
    }
  }
  return items
}

/** The file's exact text: one item per block, one space of indent per level, a final newline. */
export function serializeRecipes (items: Array<Record<string, unknown>>): string {
  return JSON.stringify(items, null, 1) + '\n'
}

export const RECIPES_FILE = new URL('./recipes.json', import.meta.url)

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const items = generateRecipes()
  writeFileSync(RECIPES_FILE, serializeRecipes(items))
  console.log(`wrote ${items.length} recipes to ${RECIPES_FILE.pathname}`)
}
