-- expression_is_true must flag rows where the expression is false or null
with

cases as (

    select * from (values (1, 1), (1, 2), (1, null)) as cases (left_value, right_value)

),

failures as (

    {{ test_expression_is_true(model='cases', expression='left_value = right_value') }}

)

select 'expression_is_true returned ' || count(*) || ' rows, expected 2' as problem
from failures
having count(*) != 2
