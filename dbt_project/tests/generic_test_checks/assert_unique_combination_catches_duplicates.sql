-- unique_combination_of_columns must flag the repeated (a, 1) pair only, not (a, 2) or (b, 1)
with

cases as (

    select * from (values ('a', 1), ('a', 1), ('a', 2), ('b', 1)) as cases (letter, number)

),

failures as (

    {{ test_unique_combination_of_columns(model='cases', combination_of_columns=['letter', 'number']) }}

)

select 'unique_combination_of_columns returned ' || count(*) || ' rows, expected 1' as problem
from failures
having count(*) != 1
